"""``configs/centermask/README.md`` and ``metafile.yml`` cover every zoo config and agree."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ZOO_DIR = ROOT / 'configs' / 'centermask'
# the zoo configs (configs/centermask/demo/ is not part of the zoo)
ZOO_CONFIGS = sorted(p.name for p in ZOO_DIR.glob('*.py'))
PURE_CONFIGS = sorted(
    p.name for p in (ROOT / 'mmdet_centermask' / 'configs' / 'centermask').glob('*.py')
    if p.name != '__init__.py')


@pytest.fixture(scope='module')
def metafile() -> dict:
    with open(ZOO_DIR / 'metafile.yml', encoding='utf-8') as file:
        return yaml.safe_load(file)


@pytest.fixture(scope='module')
def readme() -> str:
    return (ZOO_DIR / 'README.md').read_text(encoding='utf-8')


def readme_row(readme: str, config: str) -> list:
    """The cells of the results-table row that links ``config``."""
    row, = [line for line in readme.splitlines()
            if line.startswith('|') and f'](./{config})' in line]
    return [cell.strip() for cell in row.strip('|').split('|')]


def test_zoo_has_configs():
    assert len(ZOO_CONFIGS) >= 14
    assert not any('demo' in name for name in ZOO_CONFIGS)


def test_metafile_collection(metafile: dict):
    collection, = metafile['Collections']
    assert collection['Name'] == 'CenterMask'
    assert collection['Metadata']['Training Data'] == 'COCO'
    assert collection['Paper']['URL'] == 'https://arxiv.org/abs/1911.06667'
    assert (ROOT / collection['README']).is_file()
    assert (ROOT / collection['Code']['URL']).is_file()


def test_metafile_lists_every_config_once(metafile: dict):
    models = metafile['Models']
    configs = [model['Config'] for model in models]
    assert sorted(configs) == [f'configs/centermask/{name}' for name in ZOO_CONFIGS]
    for model in models:
        assert (ROOT / model['Config']).is_file(), model['Config']
        assert model['Name'] == Path(model['Config']).stem
        assert model['In Collection'] == 'CenterMask'
        assert set(model['Metadata']) <= {'Iterations', 'inference time (ms/im)'}
        assert model['Metadata']['Iterations'] in (90000, 270000, 360000)
        assert 'Weights' not in model  # nothing hosted


def test_readme_lists_every_config(readme: str):
    linked = sorted(set(re.findall(r'\]\(\./([^)]+\.py)\)', readme)))
    assert linked == ZOO_CONFIGS
    for name in PURE_CONFIGS:  # the pure-Python twins are named in the README as well
        assert f'`{name}`' in readme, name


def test_readme_and_metafile_agree(metafile: dict, readme: str):
    for model in metafile['Models']:
        cells = readme_row(readme, Path(model['Config']).name)
        # Backbone | Lr schd | Mem | Inf time | box AP | mask AP | box AP (ours) | mask AP (ours)
        inf_time, box_ap, mask_ap = cells[3:6]
        metrics = {}
        for result in model.get('Results', []):
            assert result['Dataset'] == 'COCO'
            metrics.update(result['Metrics'])
        assert box_ap == (f"{metrics['box AP']:.1f}" if 'box AP' in metrics else '-')
        assert mask_ap == (f"{metrics['mask AP']:.1f}" if 'mask AP' in metrics else '-')
        times = model['Metadata'].get('inference time (ms/im)')
        assert inf_time == (f"{times[0]['value'] / 1000:.3f}" if times else '-')
        assert cells[6:8] == ['-', '-']  # our own numbers: not trained yet
