"""`tresen channels ...`: the registered channels, and the commands each channel adds
(`add-email`, ...) through the `cli` modules its Channel names.

A channel's cli module has `ACTIONS` (the action names it adds), `add_actions(actions)`
declaring them, `run(args, settings, with_runtime)` carrying one out, and optionally
`account_lines(settings, with_runtime)`: its accounts for `tresen channels list`.
"""

from __future__ import annotations

from tresen import channel as channel_registry

COMMAND = "channels"


def add_commands(commands) -> None:
    """Declare `tresen channels list` and every channel's own actions."""
    parser = commands.add_parser(COMMAND, help="channels and their accounts")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=parser.__class__)
    actions.add_parser("list", help="the channels, whether they can send, and their accounts")
    for module in _modules():
        module.add_actions(actions)


def _modules() -> list:
    return [module for channel in channel_registry.channels() for module in channel.cli]


def run(args, settings, with_runtime) -> int:
    """Carry out a `channels` command; the exit status."""
    if args.action == "list":
        for channel in channel_registry.channels():
            sends = "sends" if channel.send is not None else "receives only"
            print(f"{channel.name}\t{channel.label()}\t{sends}")
        for module in _modules():
            for line in getattr(module, "account_lines", lambda *_: [])(settings, with_runtime):
                print(line)
        return 0
    for module in _modules():
        if args.action in module.ACTIONS:
            return module.run(args, settings, with_runtime)
    raise AssertionError(f"no channel handles {args.action!r}")  # argparse refused it before
