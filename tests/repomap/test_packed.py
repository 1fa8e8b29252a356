"""The packed name maps of the ranking index behave as the dicts of lists they stand for."""

import pickle

import numpy as np

from agent.repomap.packed import Packed


def test_a_packed_map_is_the_mapping_it_was_made_of():
    names = {"b": [1, 2], "a": [3], "é": [4], "zz": [5, 6, 7], "a_longer_one": [0]}
    packed = Packed.of(names)
    assert dict(packed) == names and len(packed) == 5
    assert "a" in packed and "c" not in packed and packed.get("c") is None and packed["zz"] == [5, 6, 7]
    again = pickle.loads(pickle.dumps(packed, protocol=5))
    assert dict(again) == names and again["é"] == [4]
    assert dict(Packed.of({})) == {} and "x" not in Packed.of({})


def test_an_updated_map_keeps_the_one_it_came_from():
    packed = Packed.of({"a": [1], "b": [2, 3]})
    updated = packed.updated({"a": [], "c": [4]})  # a is gone, c came
    assert dict(updated) == {"b": [2, 3], "c": [4]} and len(updated) == 2 and "a" not in updated
    assert dict(packed) == {"a": [1], "b": [2, 3]}
    assert dict(updated.updated({"a": [5]})) == {"a": [5], "b": [2, 3], "c": [4]}
    renumbered = updated.renumbered(np.array([0, 10, 20, 30, 40]))
    assert dict(renumbered) == {"b": [20, 30], "c": [40]}


def test_a_map_packed_from_groups_leaves_out_the_names_with_none():
    names = ["zz", "é", "gone", "a", "b"]  # the groups in any order; "gone" has no numbers
    starts = np.array([0, 3, 4, 4, 5, 7])
    values = np.array([5, 6, 7, 4, 3, 1, 2])
    packed = Packed.of_groups(names, starts, values)
    assert dict(packed) == {"zz": [5, 6, 7], "é": [4], "a": [3], "b": [1, 2]} and "gone" not in packed
    assert list(packed) == ["a", "b", "zz", "é"]  # by their UTF-8 bytes
    assert dict(Packed.of({"x": [], "y": [1]})) == {"y": [1]}


def test_names_of_every_plane_and_lone_surrogates_are_found():
    """Sorted as strings, packed as UTF-8: the two orders agree, or lookups would miss."""
    names = ["z", "\ud7ff", "\ud800", "\udfff", "\ue000", "\uffff", "\U0001f600", "a\udc80b", "é", "", "_x"]
    packed = Packed.of({name: [k] for k, name in enumerate(names)})
    assert all(packed[name] == [k] for k, name in enumerate(names))
    assert list(packed) == sorted(names, key=lambda name: name.encode("utf-8", "surrogatepass"))
