"""Placements and selectors: which hosts they select, and the mistakes they refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.manifests.placement import Host, Placement

SHOP = Host("shop-3-a", {"site": "shop-3", "gpu": "true", "wave": "1"})
HQ = Host("hq-1", {"site": "hq"})


def placement(data: dict[str, Any]) -> Placement:
    return Placement.model_validate(data)


@pytest.mark.parametrize(
    ("data", "shop", "hq"),
    [
        ({"hosts": ["hq-1"]}, False, True),
        ({"selector": {"matchLabels": {"site": "shop-3"}}}, True, False),
        ({"selector": {"matchLabels": {"site": "shop-3", "gpu": "false"}}}, False, False),
        ({"hosts": ["hq-1"], "selector": {"matchLabels": {"gpu": "true"}}}, True, True),
        (
            {
                "selector": {
                    "matchExpressions": [
                        {"key": "site", "operator": "In", "values": ["shop-1", "shop-3"]}
                    ]
                }
            },
            True,
            False,
        ),
        (
            {
                "selector": {
                    "matchExpressions": [{"key": "site", "operator": "NotIn", "values": ["hq"]}]
                }
            },
            True,
            False,
        ),
        ({"selector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}}, True, False),
        (
            {"selector": {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}},
            False,
            True,
        ),
        (
            {
                "selector": {
                    "matchLabels": {"site": "shop-3"},
                    "matchExpressions": [{"key": "wave", "operator": "In", "values": [2]}],
                }
            },
            False,
            False,
        ),
    ],
)
def test_a_placement_selects_hosts_by_name_or_labels(
    data: dict[str, Any], shop: bool, hq: bool
) -> None:
    chosen = placement(data)
    assert (chosen.selects(SHOP), chosen.selects(HQ)) == (shop, hq)


def test_not_in_also_selects_a_host_without_the_label() -> None:
    chosen = placement(
        {"selector": {"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["x"]}]}}
    )
    assert chosen.selects(HQ)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "a placement needs hosts or a selector (to run everywhere, leave it out)"),
        ({"selector": {}}, "a selector needs matchLabels or matchExpressions"),
        (
            {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "operator In needs a non-empty values list",
        ),
        (
            {
                "selector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            },
            "operator Exists takes no values",
        ),
        ({"selector": {"matchLabels": {"bad key": "x"}}}, "'bad key' is not a valid label key"),
        ({"hosts": ["no spaces"]}, "'no spaces' is not a valid name"),
        ({"selector": {"matchLabel": {"a": "b"}}}, "did you mean matchLabels?"),
    ],
)
def test_a_placement_that_could_select_everything_or_nothing_by_mistake_is_refused(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        placement(data)
    assert message in str(caught.value)


def test_a_placement_reads_as_people_write_it() -> None:
    chosen = placement(
        {
            "hosts": ["a", "b"],
            "selector": {
                "matchLabels": {"site": "x"},
                "matchExpressions": [
                    {"key": "gpu", "operator": "Exists"},
                    {"key": "wave", "operator": "NotIn", "values": ["1", "2"]},
                ],
            },
        }
    )
    assert str(chosen) == "hosts a,b or labels site=x,gpu,wave notin (1,2)"
