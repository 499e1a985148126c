"""The payload convention every SDK shares (see stalk.payload)."""

from stalk.payload import decode_args, encode_args, explicit_args


def test_arguments_travel_as_the_convention_says() -> None:
    assert encode_args() == b""
    assert encode_args([2, 3]) == b"[2,3]"
    assert encode_args((), {"to": "ada"}) == b'{"to":"ada"}'
    assert encode_args([1], {"to": "ada"}) == b'{"args":[1],"kwargs":{"to":"ada"}}'
    # Keyword arguments that look like the explicit form are sent in it.
    assert encode_args((), {"args": [1]}) == b'{"args":[],"kwargs":{"args":[1]}}'
    assert explicit_args((), {"to": "ada"}) == b'{"args":[],"kwargs":{"to":"ada"}}'


def test_every_payload_reads_back_as_arguments() -> None:
    for args, kwargs in [([], {}), ([2, 3], {}), ([], {"to": "ada"}), ([1], {"to": "a"}), ([], {"args": [1]})]:
        assert decode_args(encode_args(args, kwargs)) == (args, kwargs)
    assert decode_args(b"7") == ([7], {})
    assert decode_args(b'"text"') == (["text"], {})
    # What a workflow step gets: the results first among its positional arguments.
    assert decode_args(b'{"args":[[1,2],3],"kwargs":{"k":1}}') == ([[1, 2], 3], {"k": 1})
