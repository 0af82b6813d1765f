"""Everything the bot can do, registered in one place and in the order people meet it."""

from __future__ import annotations

from handlers import (
    absences,
    attendance,
    calendar_ics,
    cells,
    closing,
    documents,
    feedback,
    fees,
    link,
    meetings,
    menu,
    profile,
    reports,
    review,
    roster,
    study,
)
from handlers.cards import DROP, drop_confirmation
from handlers.registry import (
    DAY,
    ID,
    MONTH,
    NONE,
    WORD,
    Access,
    Action,
    Command,
    Flow,
    Registry,
    Scope,
)
from storage.meetings import MeetingDetails


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
    # The menu: a task picked from it runs as its command (which checks who may, and where);
    # leaders have their own short list behind one button.
    registry.action(Action(menu.TASK, menu.task_button, Access.ANYONE, Scope.ANY, menu.TASK_SHAPE))
    registry.command(
        Command("bithu", "leader", menu.leader_menu, Access.LEADER, Scope.PRIVATE, "cmd.leader")
    )

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
            # Leaders open check-in; a member privately checks in online (see the handler).
            Access.MEMBER,
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
    registry.action(Action("join", cells.join_button, Access.ANYONE, Scope.GROUP, NONE))
    registry.action(
        Action(
            "jn",
            cells.decide_join,
            Access.LEADER,
            Scope.ANY,
            f"{ID}:(ok|no|{ID})",
            confirm="confirm.join",
        )
    )
    registry.action(Action("ml", roster.members_button, Access.MEMBER, Scope.ANY, ID))
    registry.action(Action("pf", profile.profile_button, Access.MEMBER, Scope.PRIVATE, NONE))
    registry.action(Action("im", menu.import_hint, Access.SECRETARY, Scope.PRIVATE, NONE))
    registry.action(Action("mb", roster.member_card, Access.SECRETARY, Scope.PRIVATE, ID))
    registry.action(Action("rl", roster.role_menu, Access.SECRETARY, Scope.PRIVATE, ID))
    registry.action(Action("rs", roster.set_role, Access.SECRETARY, Scope.PRIVATE, f"{ID}:{WORD}"))
    registry.action(Action("st", roster.status_menu, Access.SECRETARY, Scope.PRIVATE, ID))
    registry.action(
        Action("ss", roster.set_status, Access.SECRETARY, Scope.PRIVATE, f"{ID}:{WORD}")
    )
    registry.action(
        Action(
            "ho",
            roster.hand_over_ask,
            Access.SECRETARY,
            Scope.PRIVATE,
            ID,
            asks_confirmation=True,
        )
    )
    registry.action(
        Action(
            "hy",
            roster.hand_over,
            Access.SECRETARY,
            Scope.PRIVATE,
            ID,
            confirm="confirm.hand_over",
        )
    )
    registry.action(Action("aa", roster.set_auto_accept, Access.SECRETARY, Scope.PRIVATE, "[01]"))
    # Editing a record: members their own phone and name, the secretary every field.
    registry.action(Action("ed", profile.edit_menu, Access.MEMBER, Scope.PRIVATE, ID))
    registry.action(
        Action("ef", profile.edit_field_ask, Access.MEMBER, Scope.PRIVATE, f"{ID}:{WORD}")
    )

    # «Thôi» on the confirmation a typed number asks for an irreversible act (handlers/cards.py).
    registry.action(Action(DROP, drop_confirmation, Access.ANYONE, Scope.ANY, NONE))

    # Meeting buttons: guided scheduling, the draft's decision, edit and cancel. Cancelling
    # asks first («mx»), and that question is the confirmation a typed number needs.
    for prefix, handler, shape in (
        ("md", meetings.pick_day, DAY),
        ("mt", meetings.pick_time, f"{DAY}:[0-9]{{4}}"),
        ("mn", meetings.default_title, NONE),
        ("mk", meetings.decide_draft, WORD),
        ("me", meetings.edit_menu, ID),
        ("mf", meetings.edit_ask, f"{ID}:{WORD}"),
        ("mq", meetings.keep_meeting, NONE),
        ("mu", meetings.save_edit, ID),
        ("mw", meetings.drop_edit, NONE),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.ANY, shape))
    registry.action(
        Action("mx", meetings.cancel_ask, Access.LEADER, Scope.ANY, ID, asks_confirmation=True)
    )
    for prefix, handler, act in (
        ("my", meetings.cancel_meeting, "confirm.cancel_meeting"),
        ("mz", meetings.stop_series, "confirm.stop_series"),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.ANY, ID, confirm=act))
    registry.action(Action("pr", meetings.toggle_private, Access.MEMBER, Scope.PRIVATE, "[01]"))
    # Attendance buttons: members say "present" in the group (or, online, privately after
    # /diemdanh there); leaders close check-in from
    # the group or the private marking sheet, where they mark anyone and turn its pages.
    registry.action(
        Action(
            "ci",
            attendance.member_checkin,
            Access.MEMBER,
            Scope.ANY,
            f"{ID}:{WORD}",
            everyone=True,
        )
    )
    # Closing asks first, privately (it names who will be marked absent); undecided absence
    # requests are decided on that card. «Họp xong» records the end for the minutes. The
    # closing card is itself the confirmation (by number too: it dies when another card is
    # shown); deciding a request on it by number is confirmed in words first.
    registry.action(
        Action(
            attendance.CLOSE,
            closing.ask_close,
            Access.LEADER,
            Scope.ANY,
            ID,
            asks_confirmation=True,
        )
    )
    registry.action(
        Action(closing.CONFIRM, closing.confirm_close, Access.LEADER, Scope.PRIVATE, f"{ID}:[01]")
    )
    registry.action(
        Action(
            closing.DECIDE_HERE,
            closing.decide_here,
            Access.LEADER,
            Scope.PRIVATE,
            f"{ID}:{ID}:[yn]",
            confirm="confirm.absence",
        )
    )
    registry.action(
        Action(closing.NAMES, closing.toggle_names, Access.LEADER, Scope.PRIVATE, f"{ID}:[01]")
    )
    registry.action(Action(closing.ENDED, closing.meeting_ended, Access.LEADER, Scope.PRIVATE, ID))
    registry.action(
        Action("cm", attendance.leader_mark, Access.LEADER, Scope.PRIVATE, f"{ID}:{ID}:{WORD}")
    )
    registry.action(
        Action("cp", attendance.roster_page, Access.LEADER, Scope.PRIVATE, f"{ID}:{ID}")
    )

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
    for prefix, handler, shape in (
        (feedback.KIND, feedback.pick_kind, WORD),
        (feedback.SEND, feedback.send, WORD),
        (feedback.MINE, feedback.my_items, NONE),
        (feedback.NEW, feedback.new_item, NONE),
    ):
        registry.action(Action(prefix, handler, Access.MEMBER, Scope.PRIVATE, shape))
    for prefix, handler, shape in (
        (feedback.LIST, feedback.list_page, ID),
        (feedback.ITEM, feedback.open_item, ID),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE, shape))
    # Moving an item tells its author: by number it is confirmed first.
    registry.action(
        Action(
            feedback.STEP,
            feedback.step_ask,
            Access.LEADER,
            Scope.PRIVATE,
            f"{ID}:{WORD}",
            confirm="confirm.feedback_step",
        )
    )
    registry.flow(
        Flow(feedback.TEXT_FLOW, feedback.text_answer, Access.MEMBER, feedback.TextQuestion)
    )
    registry.flow(
        Flow(feedback.SEND_FLOW, feedback.send_typed, Access.MEMBER, feedback.SendQuestion)
    )
    registry.flow(
        Flow(feedback.NOTE_FLOW, feedback.note_answer, Access.LEADER, feedback.NoteQuestion)
    )

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
    for prefix, member_handler, shape in (
        (absences.PICK_MEETING, absences.pick_meeting, ID),
        (absences.PICK_REASON, absences.pick_reason, f"{ID}:{WORD}"),
        (absences.SEND, absences.send, ID),
        (absences.DROP, absences.drop, NONE),
        (absences.WITHDRAW, absences.withdraw, ID),
    ):
        registry.action(Action(prefix, member_handler, Access.MEMBER, Scope.PRIVATE, shape))
    registry.action(
        Action(
            absences.DECIDE,
            closing.decide,
            Access.LEADER,
            Scope.PRIVATE,
            f"{ID}:[yn]",
            confirm="confirm.absence",
        )
    )
    registry.action(
        Action(absences.LIST, absences.list_requests, Access.LEADER, Scope.PRIVATE, f"({ID})?")
    )
    registry.flow(
        Flow(absences.REASON_FLOW, absences.reason_answer, Access.MEMBER, absences.ReasonQuestion)
    )
    registry.flow(
        Flow(absences.CONFIRM_FLOW, absences.confirm_answer, Access.MEMBER, absences.AbsenceDraft)
    )

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
    for prefix, handler, shape in (
        ("dm", documents.pick_meeting, f"({ID})?"),
        ("dp", documents.toggle_protect, NONE),
        ("dt", documents.toggle_target, f"all|{ID}"),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.ANY, shape))
    registry.action(
        Action(
            "dk", documents.decide, Access.LEADER, Scope.ANY, "send|no", confirm="confirm.document"
        )
    )
    registry.action(Action("dr", documents.mark_read, Access.MEMBER, Scope.ANY, ID))
    registry.action(Action("dv", documents.read_status, Access.LEADER, Scope.PRIVATE, f"{ID}(:r)?"))
    registry.action(Action("dg", documents.get_document, Access.MEMBER, Scope.PRIVATE, ID))

    # Party fees: always private, since amounts follow salaries and pensions. Members see their
    # own months; leaders keep the month's sheet, bases, reductions and reminders. Every leader
    # button re-checks the member's cell in storage, so a forged id changes nothing.
    registry.command(
        Command("dangphi", "fees", fees.fees_command, Access.MEMBER, Scope.PRIVATE, "fee.cmd")
    )
    registry.action(Action(fees.MINE, fees.own_status, Access.MEMBER, Scope.PRIVATE, NONE))
    for prefix, handler, shape in (
        (fees.SHEET, fees.show_sheet, MONTH),
        (fees.TOGGLE, fees.toggle_paid, f"{MONTH}:{ID}"),
        (fees.ALL_PAID, fees.all_paid, MONTH),
        (fees.REMIND, fees.remind, MONTH),
        (fees.MEMBERS, fees.pick_member, MONTH),
        (fees.BASIS, fees.basis_card, f"{ID}:{MONTH}"),
        (fees.KIND, fees.pick_kind, f"{ID}:{MONTH}:{WORD}"),
        (fees.REGION, fees.pick_region, f"{ID}:{MONTH}:{ID}:[01]"),
        (fees.REDUCE, fees.pick_reduction, f"{ID}:{MONTH}:{ID}"),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE, shape))
    registry.flow(Flow(fees.AMOUNT_FLOW, fees.amount_answer, Access.LEADER, fees.AmountQuestion))
    registry.flow(
        Flow(fees.REDUCTION_FLOW, fees.reduction_answer, Access.LEADER, fees.ReductionQuestion)
    )

    # Resolution study: leaders (or a committee office) make a campaign privately and open it;
    # members take it privately, one question at a time. Storage re-checks that a campaign is
    # the leader's own or open to the member's cell, so a forged id shows nothing.
    registry.command(
        Command("hoctap", "study", study.study_command, Access.MEMBER, Scope.PRIVATE, "study.cmd")
    )
    registry.action(Action(study.TAKE, study.take, Access.MEMBER, Scope.PRIVATE, ID))
    registry.action(
        Action(study.ANSWER, study.answer, Access.MEMBER, Scope.PRIVATE, f"{ID}:{ID}:{ID}")
    )
    for prefix, handler, shape in (
        (study.NEW, study.new_campaign, f"({ID})?"),
        (study.OPEN, study.open_campaign, ID),
        (study.SUMMARY, study.summary, ID),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE, shape))
    registry.flow(Flow(study.TITLE_FLOW, study.title_answer, Access.LEADER))
    registry.flow(
        Flow(study.DEADLINE_FLOW, study.deadline_answer, Access.LEADER, study.DeadlineQuestion)
    )
    registry.flow(
        Flow(study.QUESTIONS_FLOW, study.questions_answer, Access.LEADER, study.QuestionsQuestion)
    )

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

    # The year-end review (issue 19): always private. Each member sees only their own year
    # and sends their self-review; leaders get the cell's table; the secretary sets the
    # deadline, reminds and records grades; a committee office gets counts without names.
    # Every member id is re-checked against the leader's own cell in storage.
    registry.command(
        Command(
            "danhgia",
            "review",
            review.review_command,
            Access.MEMBER,
            Scope.PRIVATE,
            "review.cmd",
        )
    )
    year = "[0-9]{4}"
    registry.action(Action(review.SUBMIT, review.submit_ask, Access.MEMBER, Scope.PRIVATE, year))
    for prefix, handler, shape in (
        (review.TABLE, review.table, year),
        (review.VIEW, review.view, f"{ID}:{year}"),
    ):
        registry.action(Action(prefix, handler, Access.LEADER, Scope.PRIVATE, shape))
    for prefix, handler, shape in (
        (review.DEADLINE, review.deadline_ask, year),
        (review.REMIND, review.remind, year),
        (review.GRADES, review.grade_list, year),
        (review.GRADE_CARD, review.grade_card, f"{ID}:{year}"),
        (review.GRADE, review.set_grade, f"{ID}:{year}:{WORD}"),
    ):
        registry.action(Action(prefix, handler, Access.SECRETARY, Scope.PRIVATE, shape))
    registry.flow(
        Flow(review.DEADLINE_FLOW, review.deadline_answer, Access.SECRETARY, review.YearQuestion)
    )
    registry.flow(
        Flow(review.SUBMIT_FLOW, review.submit_answer, Access.MEMBER, review.YearQuestion)
    )

    # Answers to questions the bot asked, and files sent privately.
    registry.flow(Flow(cells.SETUP_FLOW, cells.setup_name_answer, Access.ANYONE))
    registry.flow(
        Flow(profile.EDIT_FLOW, profile.edit_field_answer, Access.MEMBER, profile.EditQuestion)
    )
    registry.flow(
        Flow(meetings.PLACE_FLOW, meetings.place_answer, Access.LEADER, meetings.PlaceQuestion)
    )
    registry.flow(
        Flow(meetings.TITLE_FLOW, meetings.title_answer, Access.LEADER, meetings.TitleQuestion)
    )
    registry.flow(
        Flow(meetings.CONFIRM_FLOW, meetings.confirm_answer, Access.LEADER, MeetingDetails)
    )
    registry.flow(
        Flow(meetings.EDIT_FLOW, meetings.edit_answer, Access.LEADER, meetings.EditQuestion)
    )
    registry.flow(
        Flow(
            meetings.EDIT_CONFIRM_FLOW,
            meetings.edit_confirm_answer,
            Access.LEADER,
            meetings.EditDraft,
        )
    )
    registry.flow(Flow(documents.FILE_FLOW, documents.file_answer, Access.LEADER))
    registry.flow(
        Flow(documents.TITLE_FLOW, documents.title_answer, Access.LEADER, documents.DocumentDraft)
    )
    registry.flow(
        Flow(
            documents.CONFIRM_FLOW, documents.confirm_answer, Access.LEADER, documents.DocumentDraft
        )
    )
    # A private file with no question open: a roster (CSV, XLSX) or else a document to send;
    # each says itself who may send it, so a stranger learns what the file would need.
    registry.flow(Flow("document", documents.private_file, Access.ANYONE))
    return registry
