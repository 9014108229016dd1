"""Read the config text that mmengine stores in a checkpoint as plain data, never as code.

mmengine keeps ``cfg.pretty_text`` in every checkpoint it saves (``meta['cfg']`` and
``message_hub.runtime_info.cfg``) and reads it back with ``Config.fromstring(text, '.py')``,
which writes it to a file and executes it: in ``Runner.resume`` (to compare ``gpu_ids``) and in
``BaseInferencer._init_model`` (``DetInferencer(model=None, weights=FILE)`` builds the model from
it). A checkpoint whose stored config is Python (``__import__('os').system(...)``) therefore runs
that code, although its tensors pass torch's weights-only loading. What ``pretty_text`` writes is
plain data: ``name = value`` lines whose values are literals and ``dict(key=value)`` calls. That
is all :func:`parse_stored_config` accepts.

Plain data can still name a callable: mmengine's registries build ``dict(type='subprocess.run',
args=...)`` by importing the dotted path. :func:`check_stored_types` therefore accepts a dotted
``type`` only where it names a class or function registered in an mmengine registry.
"""
import ast
import sys
from typing import Any, List

from mmengine.registry import Registry

# float('inf') and float('nan') as ``repr`` writes them
NON_FINITE_FLOATS = {'inf': float('inf'), 'nan': float('nan')}
MAX_SHOWN_CHARS = 80


class UnsafeStoredConfigError(ValueError):
    """A checkpoint's stored config is not plain data, or names an unregistered callable."""


def _refuse(source: str, node: ast.AST, why: str) -> UnsafeStoredConfigError:
    code = ast.unparse(node)
    if len(code) > MAX_SHOWN_CHARS:
        code = code[:MAX_SHOWN_CHARS] + '...'
    return UnsafeStoredConfigError(
        f'refusing the config stored in {source}: line {getattr(node, "lineno", "?")} '
        f'({code!r}) {why}. A checkpoint\'s stored config is read as plain data (what mmengine '
        'writes: name = literal or dict(...)), never executed. Pass your own config file instead '
        '(DetInferencer(model=CONFIG, weights=CHECKPOINT); --resume reads the config given on '
        'the command line), or re-save the checkpoint without meta.cfg if you trust it.')


def _literal(node: ast.AST, source: str) -> Any:
    """The value of a plain-data expression node."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in NON_FINITE_FLOATS:
        return NON_FINITE_FLOATS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, source)
        if isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    elif isinstance(node, ast.List):
        return [_literal(item, source) for item in node.elts]
    elif isinstance(node, ast.Tuple):
        return tuple(_literal(item, source) for item in node.elts)
    elif isinstance(node, ast.Set):
        return {_literal(item, source) for item in node.elts}
    elif isinstance(node, ast.Dict):
        if None in node.keys:
            raise _refuse(source, node, 'unpacks a dict (**)')
        return {_literal(key, source): _literal(value, source)
                for key, value in zip(node.keys, node.values)}
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
          and node.func.id == 'dict' and not node.args
          and all(keyword.arg is not None for keyword in node.keywords)):
        return {keyword.arg: _literal(keyword.value, source) for keyword in node.keywords}
    raise _refuse(source, node, f'is a {type(node).__name__} expression, not a literal')


def parse_stored_config(text: str, source: str = 'the checkpoint') -> dict:
    """Parse mmengine's stored config text without executing any of it.

    Args:
        text (str): The text of ``cfg.pretty_text``.
        source (str): What the text came from, for the error message.

    Returns:
        dict: The top-level names and their values.

    Raises:
        UnsafeStoredConfigError: The text is not a sequence of ``name = plain data`` lines.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise UnsafeStoredConfigError(
            f'the config stored in {source} is not valid Python text: {error}') from None
    values = {}
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            raise _refuse(source, statement,
                          f'is a {type(statement).__name__} statement, not "name = value"')
        values[statement.targets[0].id] = _literal(statement.value, source)
    return values


def _registries() -> List[Registry]:
    """mmengine's root registries and all their children (mmdet's, ours are mmdet's)."""
    from mmengine import registry as root_registries
    found, stack = {}, [value for value in vars(root_registries).values()
                        if isinstance(value, Registry)]
    while stack:
        registry = stack.pop()
        if id(registry) not in found:
            found[id(registry)] = registry
            stack.extend(registry._children.values())
    return list(found.values())


def _resolve_loaded(path: str) -> Any:
    """The object a dotted path names among the modules already imported, else None."""
    parts = path.split('.')
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get('.'.join(parts[:split]))
        if module is None:
            continue
        obj = module
        for name in parts[split:]:
            obj = getattr(obj, name, None)
        return obj
    return None


def check_stored_types(config: Any, source: str = 'the checkpoint') -> None:
    """Refuse dotted ``type`` paths that do not name a registered class or function.

    mmengine's ``Registry.get`` imports any dotted path it does not know
    (``get_object_from_string``) and the builder calls it with the dict's other keys.
    ``scope.Name`` (e.g. ``mmdet.CenterMask``) and dotted paths to registered objects
    (``mmdet.models.detectors.CenterMask``, as lazy-import configs are dumped) pass.

    Raises:
        UnsafeStoredConfigError: Naming the first offending ``type``.
    """
    registries = _registries()
    registered = {id(obj) for registry in registries for obj in registry.module_dict.values()}
    stack = [config]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            kind = value.get('type')
            if isinstance(kind, str) and '.' in kind:
                scope, _, name = kind.partition('.')
                scoped_name = any(registry.scope == scope and name in registry.module_dict
                                  for registry in registries)
                if not scoped_name and id(_resolve_loaded(kind)) not in registered:
                    raise UnsafeStoredConfigError(
                        f'refusing the config stored in {source}: type={kind!r} is neither a '
                        'registered name nor the path of a registered class, and mmengine would '
                        'import and call it. Pass your own config file instead '
                        '(DetInferencer(model=CONFIG, weights=CHECKPOINT)).')
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set)):
            stack.extend(value)
