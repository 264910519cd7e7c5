"""One entry point for every dataset: `load_data("shapes:n=2000")`, `load_data("~/pictures")`."""

from ssl_core.data.builtin import BUILTINS
from ssl_core.data.cache import cache_key, cached
from ssl_core.data.folder import folder_plan
from ssl_core.data.imagedata import ImageData, balanced_pick
from ssl_core.errors import UserError

SPLITS = {"train": "train", "test": "test", "val": "test", "all": "all"}


def builtin_names() -> dict[str, str]:
    """{name: one-line description} of the built-in datasets."""
    return {name: b.description for name, b in BUILTINS.items()}


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """"shapes:n=2000,correlate=color@0.9" -> ("shapes", {"n": "2000", "correlate": "color@0.9"}).

    Only a built-in name takes options; anything else is a path and is returned whole.
    """
    name, _sep, rest = spec.strip().partition(":")
    if name not in BUILTINS:
        return spec.strip(), {}
    options = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise UserError(f"option {item!r} in {spec!r} needs a value: write {name}:{item}=...")
        options[key.strip()] = value.strip()
    return name, options


def load_data(spec: str, split: str = "train", size: int | None = None, limit: int | None = None) -> ImageData:
    """The `split` of dataset `spec` as uint8 images at `size` px (decoded once, then cached on disk).

    `spec` is a built-in name with options (`shapes:n=2000,correlate=color@0.9`, `digits`, `photos`)
    or an image folder. `split` is train, test (or val) or all: every image, train then test (a folder
    without split folders is then read whole). `limit` keeps a fixed, class-balanced subset.
    """
    return data_plan(spec, split, size, limit)[1]()


def data_key(spec: str, split: str = "train", size: int | None = None, limit: int | None = None) -> str:
    """What `load_data` with these arguments returns, named by its content (a folder's every file path, mtime
    and size; a built-in's options and generator version), without decoding or reading any image."""
    return data_plan(spec, split, size, limit)[0]


def data_plan(spec: str, split: str = "train", size: int | None = None, limit: int | None = None):
    """(key, load): `data_key` and the function that returns `load_data`, from one look at the data (a folder is
    listed once), for a caller that may need either."""
    key, load = _plan(spec, split, size, limit)

    def loaded() -> ImageData:
        data = load()
        data.key, data.source = key, spec
        return data

    return key, loaded


def _plan(spec: str, split: str, size: int | None, limit: int | None):
    """(key, load) of one dataset; `data_plan` stamps what `load` returns with its key and spec."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}: use train, test or all")
    split = SPLITS[split]
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1, not {limit}")
    name, texts = parse_spec(spec)
    if name not in BUILTINS:
        if not name:
            raise UserError(f"no dataset given: use a folder path or one of {', '.join(BUILTINS)}")
        _check_size(size, (8, 1024), "images")
        return folder_plan(name, split, size, limit)

    b = BUILTINS[name]
    options = {}
    for key, text in texts.items():
        parse = b.options.get(key, int if key == "size" else None)
        if parse is None:
            valid = ", ".join(["size", *b.options]) if b.options else "size"
            raise UserError(f"{name} has no option {key!r}: use {valid}")
        try:
            options[key] = parse(text)
        except ValueError:
            raise UserError(f"{name}: bad value {text!r} for {key}: see `{name}` in the dataset list") from None
    size = size or options.pop("size", None) or b.default_size
    options.pop("size", None)
    _check_size(size, b.sizes, name)
    if split == "all" and name != "photos":  # the photos' two splits are the same nine pictures
        parts = [_plan(spec, s, size, None) for s in ("train", "test")]

        def load_both() -> ImageData:
            both = ImageData.concat([load() for _, load in parts])
            return both if limit is None or limit >= len(both) else both.subset(balanced_pick(both.labels, limit))

        return cache_key("all", *(k for k, _ in parts), limit), load_both
    split = "train" if split == "all" else split
    key = cache_key("builtin", name, sorted(options.items()), split, size, limit)
    return key, lambda: cached(key, lambda: b.build(split=split, size=size, limit=limit, **options))


def _check_size(size: int | None, bounds: tuple[int, int], what: str) -> None:
    if size is not None and not bounds[0] <= size <= bounds[1]:
        raise UserError(f"size {size} is out of range for {what}: use {bounds[0]} to {bounds[1]} px")
