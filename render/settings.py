"""What a render job makes: sizes, classes, backgrounds, seed. The presets live here only."""

from dataclasses import dataclass, replace

from mindseye.core.constants import DEFAULT_BACKGROUNDS


@dataclass(frozen=True)
class RenderSettings:
    """A dataset's recipe; how frames are rendered is `render.blender.EngineSettings`."""

    per_class: int  # train samples per class, the None class included
    test_per_class: int
    classes: tuple[str, ...] | None = None  # None: the built-in classes
    backgrounds: str = DEFAULT_BACKGROUNDS
    seed: int = 0
    shard_size: int = 1000
    # The authors' contrast stretch of each model's grey levels (dataset/composite.py), with its
    # range taken from `stretch_calibration` renders of the model at random rotations (the
    # authors took it over all of their 50000 renders; 1000 put each percentile within about a
    # grey level).
    contrast_stretch: bool = False
    stretch_calibration: int = 1000

    def samples_in(self, split: str, n_labels: int) -> int:
        per_class = self.per_class if split == "train" else self.test_per_class
        return per_class * n_labels


# The most samples per class a render takes: 25 times the paper's 40000, about 21 GB of shards
# with four labels (5.2 KB a sample at medium). Beyond it, a typo more likely than a plan.
MAX_PER_CLASS = 1_000_000

RENDER_PRESETS = {
    # Minutes on 2 cores: enough for every network to be clearly better than chance.
    "demo": RenderSettings(per_class=800, test_per_class=200, shard_size=500),
    # About an hour end to end on 2 cores (rendering itself is a few minutes).
    "medium": RenderSettings(per_class=5000, test_per_class=1000),
    # The paper: 4e4 train and 1e4 test samples per class, each model's grey levels stretched
    # as the authors' lib/range_extend.py did (docs/fidelity.md).
    "paper": RenderSettings(per_class=40_000, test_per_class=10_000, contrast_stretch=True),
}



def render_settings(preset: str, **overrides: object) -> RenderSettings:
    """The preset with the options the user gave (None means 'not given')."""
    given = {name: value for name, value in overrides.items() if value is not None}
    return replace(RENDER_PRESETS[preset], **given)
