"""Everything the bot can do, registered in one place and in the order people meet it."""

from __future__ import annotations

from handlers import (
    absences,
    attendance,
    calendar_ics,
    cells,
    documents,
    feedback,
    fees,
    link,
    meetings,
    menu,
    profile,
    reports,
    roster,
    study,
)
from handlers.registry import Access, Action, Command, Registry, Scope


def build_registry() -> Registry:
    registry = Registry()

    # Getting started: anyone may ask for help, found a cell from a group, or join one.
    registry.command(
        Command(
            "start", "start", menu.help_menu, Access.ANYONE, Scope.ANY, "cmd.start", in_menu=False
        )
    )
    registry.command(
        Command("trogiup", "help", menu.help_menu, Access.ANYONE, Scope.ANY, "cmd.help")
    )
    registry.command(
        Command("batdau", "setup", cells.setup, Access.ANYONE, Scope.GROUP, "cmd.setup")
    )
    registry.command(Command("thamgia", "join", cells.join, Access.ANYONE, Scope.GROUP, "cmd.join"))

    # The roster and one's own record.
    registry.command(
        Command(
            "dangvien", "members", roster.members_command, Access.MEMBER, Scope.ANY, "cmd.members"
        )
    )
    registry.command(
        Command(
            "hoso", "profile", profile.profile_command, Access.MEMBER, Scope.PRIVATE, "cmd.profile"
        )
    )
    registry.command(Command("huy", "cancel", menu.cancel, Access.ANYONE, Scope.ANY, "cmd.cancel"))

    # Meetings: leaders schedule (always confirmed before anything reaches the group),
    # everyone sees what is coming and chooses private reminders.
    registry.command(
        Command(
            "lichhop",
            "schedule",
            meetings.schedule_command,
            Access.LEADER,
            Scope.ANY,
            "cmd.schedule",
        )
    )
    registry.command(
        Command("hop", "meeting", meetings.list_command, Access.MEMBER, Scope.ANY, "cmd.meeting")
    )
    registry.command(
        Command(
            "nhacnho",
            "reminders",
            meetings.reminders_command,
            Access.MEMBER,
            Scope.ANY,
            "cmd.reminders",
        )
    )

    # At the meeting: leaders open check-in (in the group, or privately to mark anyone);
    # the minutes draft is made when check-in closes. Everyone can take the calendar home.
    registry.command(
        Command(
            "diemdanh",
            "attendance",
            attendance.attendance_command,
            Access.LEADER,
            Scope.ANY,
            "attendance.cmd",
        )
    )
    registry.command(
        Command(
            "bienban",
            "minutes",
            attendance.minutes_command,
            Access.LEADER,
            Scope.PRIVATE,
            "minutes.cmd",
        )
    )
    registry.command(
        Command(
            "lich",
            "calendar",
            calendar_ics.calendar_command,
            Access.MEMBER,
            Scope.ANY,
            "calendar.cmd",
        )
    )

    # Buttons. Leaders decide join requests in the group; roster changes happen privately.
    registry.action(Action("join", cells.join_button, Access.ANYONE, Scope.GROUP))
    registry.action(Action("jn", cells.decide_join, Access.LEADER, Scope.ANY))
    registry.action(Action("ml", roster.members_button, Access.MEMBER, Scope.ANY))
    registry.action(Action("pf", profile.profile_button, Access.MEMBER, Scope.PRIVATE))
    registry.action(Action("im", menu.import_hint, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("mb", roster.member_card, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("rl", roster.role_menu, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("rs", roster.set_role, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("st", roster.status_menu, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("ss", roster.set_status, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("ho", roster.hand_over_ask, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("hy", roster.hand_over, Access.SECRETARY, Scope.PRIVATE))
    registry.action(Action("aa", roster.set_auto_accept, Access.SECRETARY, Scope.PRIVATE))
    # Editing a record: members their own phone and name, the secretary every field.
    registry.action(Action("ed", profile.edit_menu, Access.MEMBER, Scope.PRIVATE))
    registry.action(Action("ef", profile.edit_field_ask, Access.MEMBER, Scope.PRIVATE))

    # Meeting buttons: guided scheduling, the draft's decision, edit and cancel.
    for prefix, handler in (
        ("md", meetings.pick_day),
        ("mt", meetings.pick_time),
        ("mn", meetings.default_title),
        ("mk", meetings.decide_draft),
        ("me", meetings.edit_menu),
        ("mf", meetings.edit_ask),
        ("mx", meetings.cancel_ask),
        ("my", meetings.cancel_meeting),
        ("mz", meetings.stop_series),
        ("mq", meetings.keep_meeting),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.ANY))
    registry.action(Action("pr", meetings.toggle_private, Access.MEMBER, Scope.PRIVATE))
    # Attendance buttons: members say "present" in the group; leaders close check-in from
    # the group or the private marking sheet, where they mark anyone and turn its pages.
    registry.action(Action("ci", attendance.member_checkin, Access.MEMBER, Scope.GROUP))
    registry.action(Action("cc", attendance.close_checkin, Access.LEADER, Scope.ANY))
    registry.action(Action("cm", attendance.leader_mark, Access.LEADER, Scope.PRIVATE))
    registry.action(Action("cp", attendance.roster_page, Access.LEADER, Scope.PRIVATE))

    # Feedback (góp ý, kiến nghị): always private, since the author may be anonymous and
    # the text personal. One command for everyone; it shows members the kinds to write and
    # leaders (and committee offices) what waits for an answer. Leader actions re-check the
    # item's cell (or the office's committee) in storage, so a forged id shows nothing.
    registry.command(
        Command(
            "gopy",
            "feedback",
            feedback.feedback_command,
            Access.MEMBER,
            Scope.PRIVATE,
            "cmd.feedback",
        )
    )
    for prefix, handler in (
        (feedback.KIND, feedback.pick_kind),
        (feedback.SEND, feedback.send),
        (feedback.MINE, feedback.my_items),
        (feedback.NEW, feedback.new_item),
    ):
        registry.action(Action(prefix, handler, Access.MEMBER, Scope.PRIVATE))
    for prefix, handler in (
        (feedback.LIST, feedback.list_page),
        (feedback.ITEM, feedback.open_item),
        (feedback.STEP, feedback.step_ask),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE))
    registry.flow(feedback.TEXT_FLOW, feedback.text_answer)
    registry.flow(feedback.SEND_FLOW, feedback.send_typed)
    registry.flow(feedback.NOTE_FLOW, feedback.note_answer)

    # One person on two platforms (Telegram and Zalo): a one-time code made on one and sent
    # privately on the other links the accounts. Anyone may send a code (the Zalo account is
    # not a member yet); only members can make one.
    registry.command(
        Command("lienket", "link", link.link_command, Access.ANYONE, Scope.PRIVATE, "cmd.link")
    )

    # Absence requests: asked in a group, /xinvang only points to the private chat, where the
    # member picks the meeting and reason, sends it and may withdraw it; leaders decide and
    # list requests privately, so nobody's reason is ever seen in a group.
    registry.command(
        Command(
            absences.COMMAND,
            "absent",
            absences.absence_command,
            Access.MEMBER,
            Scope.ANY,
            "absence.cmd",
        )
    )
    for prefix, member_handler in (
        (absences.PICK_MEETING, absences.pick_meeting),
        (absences.PICK_REASON, absences.pick_reason),
        (absences.SEND, absences.send),
        (absences.DROP, absences.drop),
        (absences.WITHDRAW, absences.withdraw),
    ):
        registry.action(Action(prefix, member_handler, Access.MEMBER, Scope.PRIVATE))
    registry.action(Action(absences.DECIDE, absences.decide, Access.LEADER, Scope.PRIVATE))
    registry.action(Action(absences.LIST, absences.list_requests, Access.LEADER, Scope.PRIVATE))
    registry.flow(absences.REASON_FLOW, absences.reason_answer)
    registry.flow(absences.CONFIRM_FLOW, absences.confirm_answer)

    # Documents: leaders (or a committee office, for its cells) send a file or a link, which
    # reaches the groups only after «Gửi» on the card; everyone lists and searches, members
    # confirm reading with «Đã đọc» (in the group or in the private nudge), leaders see who
    # has read privately. Card buttons stay with leaders; the draft is theirs alone.
    registry.command(
        Command(
            "tailieu",
            "docs",
            documents.documents_command,
            Access.MEMBER,
            Scope.ANY,
            "document.cmd",
        )
    )
    for prefix, handler in (
        ("dk", documents.decide),
        ("dm", documents.pick_meeting),
        ("dp", documents.toggle_protect),
        ("dt", documents.toggle_target),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.ANY))
    registry.action(Action("dr", documents.mark_read, Access.MEMBER, Scope.ANY))
    registry.action(Action("dv", documents.read_status, Access.LEADER, Scope.PRIVATE))
    registry.action(Action("dg", documents.get_document, Access.MEMBER, Scope.PRIVATE))

    # Party fees: always private, since amounts follow salaries and pensions. Members see their
    # own months; leaders keep the month's sheet, bases, reductions and reminders. Every leader
    # button re-checks the member's cell in storage, so a forged id changes nothing.
    registry.command(
        Command("dangphi", "fees", fees.fees_command, Access.MEMBER, Scope.PRIVATE, "fee.cmd")
    )
    registry.action(Action(fees.MINE, fees.own_status, Access.MEMBER, Scope.PRIVATE))
    for prefix, handler in (
        (fees.SHEET, fees.show_sheet),
        (fees.TOGGLE, fees.toggle_paid),
        (fees.ALL_PAID, fees.all_paid),
        (fees.REMIND, fees.remind),
        (fees.MEMBERS, fees.pick_member),
        (fees.BASIS, fees.basis_card),
        (fees.KIND, fees.pick_kind),
        (fees.REGION, fees.pick_region),
        (fees.REDUCE, fees.pick_reduction),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE))
    registry.flow(fees.AMOUNT_FLOW, fees.amount_answer)
    registry.flow(fees.REDUCTION_FLOW, fees.reduction_answer)

    # Resolution study: leaders (or a committee office) make a campaign privately and open it;
    # members take it privately, one question at a time. Storage re-checks that a campaign is
    # the leader's own or open to the member's cell, so a forged id shows nothing.
    registry.command(
        Command("hoctap", "study", study.study_command, Access.MEMBER, Scope.PRIVATE, "study.cmd")
    )
    registry.action(Action(study.TAKE, study.take, Access.MEMBER, Scope.PRIVATE))
    registry.action(Action(study.ANSWER, study.answer, Access.MEMBER, Scope.PRIVATE))
    for prefix, handler in (
        (study.NEW, study.new_campaign),
        (study.OPEN, study.open_campaign),
        (study.SUMMARY, study.summary),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE))
    registry.flow(study.TITLE_FLOW, study.title_answer)
    registry.flow(study.DEADLINE_FLOW, study.deadline_answer)
    registry.flow(study.QUESTIONS_FLOW, study.questions_answer)

    # The monthly report goes only to a secretary (or a committee office, for all its cells),
    # and only privately: it names members, their attendance and fees.
    registry.command(
        Command(
            "baocao",
            "report",
            reports.report_command,
            Access.SECRETARY,
            Scope.PRIVATE,
            "report.cmd",
        )
    )

    # Answers to questions the bot asked, and files sent privately.
    registry.flow(cells.SETUP_FLOW, cells.setup_name_answer)
    registry.flow(profile.EDIT_FLOW, profile.edit_field_answer)
    registry.flow(meetings.PLACE_FLOW, meetings.place_answer)
    registry.flow(meetings.TITLE_FLOW, meetings.title_answer)
    registry.flow(meetings.CONFIRM_FLOW, meetings.confirm_answer)
    registry.flow(meetings.EDIT_FLOW, meetings.edit_answer)
    registry.flow(documents.FILE_FLOW, documents.file_answer)
    registry.flow(documents.TITLE_FLOW, documents.title_answer)
    registry.flow(documents.CONFIRM_FLOW, documents.confirm_answer)
    # A private file with no question open: a roster (CSV, XLSX) or else a document to send.
    registry.flow("document", documents.private_file)
    return registry
