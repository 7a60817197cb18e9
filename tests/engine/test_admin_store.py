"""Setup-channel changes made at runtime, applied over whatever the setting says."""

from __future__ import annotations

from core.engine.admin import ChannelChanges


def test_added_and_removed_channels_apply_over_the_configured_list() -> None:
    configured = [1, 2]
    changes = ChannelChanges().with_added(3, configured).with_removed(1, configured)
    assert changes == ChannelChanges(added=(3,), removed=(1,))
    assert changes.apply(configured) == [2, 3]
    # a channel added to the setting later is still read; one removed at runtime stays removed
    assert changes.apply([1, 2, 4]) == [2, 4, 3]


def test_undoing_a_change_leaves_no_trace() -> None:
    configured = [1]
    added = ChannelChanges().with_added(5, configured)
    assert added.with_removed(5, configured) == ChannelChanges()
    removed = ChannelChanges().with_removed(1, configured)
    assert removed.with_added(1, configured) == ChannelChanges()
    assert ChannelChanges().with_added(1, configured) == ChannelChanges()  # already configured


def test_applying_twice_changes_nothing() -> None:
    changes = ChannelChanges(added=(7,), removed=(1,))
    once = changes.apply([1, 2])
    assert changes.apply(once) == once == [2, 7]
