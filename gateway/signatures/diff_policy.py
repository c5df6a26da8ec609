"""The difference-analysis policy we judge later revisions by.

pyHanko's default, except that appearance streams may not be rewritten in place. With
in-place rewrites allowed, pyHanko reports every form field whose appearance predates
the signed revision as "changed" as soon as any later revision exists (so a letter with
a form field would need review after our own receive stamp), and an in-place rewrite is
exactly how the "sneaky" appearance-override attack hides a change. Refusing it makes
such files count as modified (review), and clean files clean.

A choice field's selected indices (/I, ISO 32000-1 12.7.4.4) are part of its value, as
/V is: choosing an entry of a list box is form filling. pyHanko's default leaves /I out
and calls such a fill "changed after signing beyond form filling" (EU DSS's
`pades-signed-filled-form` fixture).
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def diff_policy():
    from pyhanko.sign.diff_analysis import (
        CatalogModificationRule,
        DocInfoRule,
        DSSCompareRule,
        FormUpdatingRule,
        GenericFieldModificationRule,
        MetadataUpdateRule,
        ModificationLevel,
        ObjectStreamRule,
        SigFieldCreationRule,
        SigFieldModificationRule,
        StandardDiffPolicy,
        XrefStreamRule,
    )

    from pyhanko.sign.diff_analysis.constants import VALUE_UPDATE_KEYS

    lta = ModificationLevel.LTA_UPDATES
    return StandardDiffPolicy(
        global_rules=[
            CatalogModificationRule(),
            DocInfoRule().as_qualified(lta),
            XrefStreamRule().as_qualified(lta),
            ObjectStreamRule().as_qualified(lta),
            DSSCompareRule().as_qualified(lta),
            MetadataUpdateRule().as_qualified(lta),
        ],
        form_rule=FormUpdatingRule(
            field_rules=[
                SigFieldCreationRule(),
                SigFieldModificationRule(allow_in_place_appearance_stream_changes=False),
                GenericFieldModificationRule(allow_in_place_appearance_stream_changes=False,
                                             value_update_keys=VALUE_UPDATE_KEYS | {"/I"}),
            ],
        ),
    )
