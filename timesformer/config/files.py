"""Reading config files: ``yaml.safe_load`` (plain values only), ``_BASE_`` inheritance, and an error
that names the file (and line) for a missing file, bad YAML, a circular ``_BASE_`` or a file that
holds no mapping of keys; where a config file named on a command line is found (``find_config``)."""
import difflib
import os
from typing import Any, Dict, Iterator, List, Tuple

import yaml

from timesformer.errors import ConfigError

from .checks import a_type

BASE_KEY = "_BASE_"
# The recipe configs ship inside the package; the repository's top-level configs/ links here.
PACKAGED_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def packaged_configs() -> List[str]:
    """Every packaged config file, relative to the packaged folder ('Kinetics/TimeSformer_...yaml')."""
    found = []
    for folder, _, files in os.walk(PACKAGED_CONFIGS):
        rel = os.path.relpath(folder, PACKAGED_CONFIGS)
        found += [os.path.normpath(os.path.join(rel, f)) for f in files if f.endswith((".yaml", ".yml"))]
    return sorted(found)


def find_config(path: str) -> str:
    """The config file ``path`` names: the path itself when it exists, else the packaged config of that
    name ('Kinetics/X.yaml' or 'configs/Kinetics/X.yaml'), so a recipe works from any folder and from
    an installed package; else a ConfigError naming the places tried and the closest names."""
    if os.path.isfile(path):
        return path
    rel = os.path.normpath(os.path.expanduser(path))
    tried = [os.path.abspath(rel)]
    if not os.path.isabs(rel):
        head, _, rest = rel.partition(os.sep)
        rel = rest if head == "configs" and rest else rel
        packaged = os.path.join(PACKAGED_CONFIGS, rel)
        if os.path.isfile(packaged):
            return packaged
        tried.append(packaged)
    names = packaged_configs()
    close = difflib.get_close_matches(rel, names, n=3, cutoff=0.5)
    hint = (f"the closest packaged configs: {', '.join(close)}" if close
            else f"the packaged configs are in {PACKAGED_CONFIGS}, e.g. {', '.join(names[:2])}")
    raise ConfigError(f"config file {path} does not exist (tried {' and '.join(tried)}); {hint}")


def _yaml_error(path: str, e: yaml.YAMLError) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if isinstance(e, yaml.constructor.ConstructorError):
        return ConfigError(f"config file {path}{where}: {problem}: config files are read with yaml.safe_load, "
                           "which allows plain values (numbers, strings, lists, mappings) only; remove the tag")
    context = getattr(e, "context", None)
    return ConfigError(f"config file {path}{where}: not valid YAML: {problem}"
                       f"{f' ({context})' if context else ''}; fix the syntax there")


def _read_yaml(path: str) -> Dict[str, Any]:
    """The mapping a config file holds (safe loading), or a ConfigError naming the file."""
    try:
        with open(path) as f:
            tree = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from e
    if tree is None:
        raise ConfigError(f"config file {path} is empty; write the keys that differ from the defaults, e.g. "
                          f"'{BASE_KEY}: ../Kinetics/TimeSformer_divST_8x32_224.yaml' and 'MODEL: {{NUM_CLASSES: 10}}'")
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path} holds {a_type(tree)}; expected a mapping of sections to keys, e.g. "
                          "'MODEL: {NUM_CLASSES: 10}' (see configs/)")
    return tree


def file_trees(path: str, chain: Tuple[str, ...] = ()) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(file, mapping of its keys) of ``path``'s ``_BASE_`` files (recursively, each base before the
    file naming it), then of ``path`` itself; each read when the one before it has been used, so an
    error names the first file that has one. The one reader of config files: ``load_config`` merges
    them, ``stated_keys`` lists their keys."""
    if os.path.realpath(path) in {os.path.realpath(p) for p in chain}:
        raise ConfigError(f"circular {BASE_KEY}: {' -> '.join([*chain, path])}; a config file cannot "
                          f"inherit from itself: remove one of these {BASE_KEY} entries")
    tree = _read_yaml(path)
    bases = tree.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"config file {path}: {BASE_KEY} = {bases!r}; expected the path "
                          "of a config file (relative to this one) or a list of such paths")
    for base in bases:
        full = os.path.normpath(os.path.join(os.path.dirname(path), os.path.expanduser(base)))
        if not os.path.isfile(full):
            raise ConfigError(f"config file {path}: {BASE_KEY} {base} ({full}) does not exist; a {BASE_KEY} "
                              "path is relative to the file that names it")
        yield from file_trees(full, (*chain, path))
    yield path, tree
