# SPDX-License-Identifier: LGPL-2.1-or-later
"""slidepipe.torch: a slide's patches as a PyTorch dataset.

Needs PyTorch (python3-torch); importing slidepipe itself does not.
"""

import torch
from torch.utils.data import IterableDataset, get_worker_info

from ._pipeline import Pipeline, load


class PatchDataset(IterableDataset):
    """The kept patches of a pipeline's grid, for a ``DataLoader``.

    pipeline: a :class:`slidepipe.Pipeline`, a pipeline string, or a slide
        path (then the whole slide).
    size: patch side in pixels (default 224).
    transform: None or callable(tensor) -> anything, applied to each
        patch's tensor.
    options: Pipeline.patches()'s: mpp or level, min_tissue, mask, stride,
        grid, edge.

    Each item is ``(image, info)``: image a ``torch.uint8`` tensor of
    bands × size × size (C × H × W; the pipeline's type for 16-bit
    input), info a dict of the patch's level-0 ``x``, ``y`` (floats),
    ``level``, ``downsample``, ``mpp`` (0.0 when unknown), ``tissue``
    (-1.0 without a mask) and grid ``index``, which the default collate
    function turns into tensors.

    With ``num_workers`` > 1, worker i of n decodes only the i-th of n
    equal shares of the kept patches (the tiles sink's ``shard``), so
    every kept patch is delivered exactly once per epoch; each worker
    computes the same tissue mask and opens its own files. The order is
    not fixed: use info["index"] or the coordinates.

    libvips is not fork-safe once it has computed pixels in a process: if
    the process making the DataLoader has used slidepipe (or pyvips) for
    pixels before, give the DataLoader ``multiprocessing_context="spawn"``
    (or "forkserver"); a fresh process can use the default fork.
    """

    def __init__(self, pipeline, size=224, transform=None, **options):
        super().__init__()
        if isinstance(pipeline, Pipeline):
            self.pipeline = pipeline
        elif "!" in str(pipeline) or str(pipeline).startswith("load "):
            self.pipeline = Pipeline.parse(str(pipeline))
        else:
            self.pipeline = load(pipeline)
        self.size = size
        self.transform = transform
        self.options = options
        # bad options fail here, not in a worker
        self.pipeline.patches(size, **options).close()

    def __iter__(self):
        info = get_worker_info()
        shard = None
        if info is not None and info.num_workers > 1:
            shard = (info.id, info.num_workers)
        for p in self.pipeline.patches(self.size, shard=shard,
                                       **self.options):
            image = torch.from_numpy(p.array).permute(2, 0, 1)
            if self.transform is not None:
                image = self.transform(image)
            yield image, {
                "x": p.x, "y": p.y, "level": p.level,
                "downsample": p.downsample,
                "mpp": p.mpp if p.mpp is not None else 0.0,
                "tissue": p.tissue if p.tissue is not None else -1.0,
                "index": p.index,
            }
