"""Routing rules change order through `routing.actions.move_rule`, from the console too."""

from __future__ import annotations

from routing.actions import create_rule, move_rule
from routing.queries import rules_in_order
from tests.fixtures import csrf_of, sign_in
from tresen.accounts import create_user


async def _names(runtime) -> list[str]:
    async with runtime.read() as session:
        return [rule.name for rule in await rules_in_order(session)]


async def test_rules_move_up_and_down_and_stop_at_the_ends(client, runtime):
    async with runtime.transaction() as tx:
        for name in ("a", "b", "c"):
            await create_rule(tx, name=name, conditions=[], actions={"priority": "high"})
    assert await _names(runtime) == ["a", "b", "c"]
    async with runtime.transaction() as tx:
        rules = await rules_in_order(tx.session)
        await move_rule(tx, rules[2], -1)
    assert await _names(runtime) == ["a", "c", "b"]
    async with runtime.transaction() as tx:
        rules = await rules_in_order(tx.session)
        await move_rule(tx, rules[0], -1)  # first already: stays
    assert await _names(runtime) == ["a", "c", "b"]

    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="admin-password"
    )
    await sign_in(client, "ada@example.com", "admin-password")
    page = await client.get("/admin/routing")
    async with runtime.read() as session:
        first = (await rules_in_order(session))[0]
    moved = await client.post(
        f"/admin/routing/rules/{first.id}", data={"do": "down", "csrf_token": csrf_of(page.text)}
    )
    assert moved.status_code == 303
    assert await _names(runtime) == ["c", "a", "b"]
