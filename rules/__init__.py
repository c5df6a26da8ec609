"""The letter rules: pure functions over a parsed letter, no I/O.

`rules.model` holds what a rule sees (ParsedMail, Attachment) and what it says
(Finding). `rules.extract` reads what the letter says (ที่, วันที่, เรื่อง, ...). Each file
in `rules/checks/` is one named rule; `rules.policy` decides what the findings do.
"""
