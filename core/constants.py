"""Facts every stage shares, defined once. Each stage's own sizes per preset live beside it:
`render/settings.py`, `models/settings.py`, `attacks/settings.py` (docs/architecture.md)."""

# The presets every stage sizes itself by: demo (minutes on 2 cores), medium, paper.
PRESETS = ("demo", "medium", "paper")

# Frames are square, this many pixels a side (the paper's 64x64).
IMAGE_SIZE = 64

# Euler angles (radians) are sampled uniformly in [-ROTATION_LIMIT, ROTATION_LIMIT]^3, and the
# estimator's output is clipped to the same range.
ROTATION_LIMIT = 0.5

# The background-only class: always the last label of a dataset (K positives -> label K).
NONE_CLASS = "none"

# The triple-staged network's ratio thresholds that the paper reports (Table 1, Figs. 4 and 6).
THRESHOLDS = (0.2, 0.45, 0.7)

# The paper clips its attack's steps at 1500 in Figs. 4 and 6; the medium and paper presets
# cap the attack there, and the report's boxplots clip their display there.
PAPER_STEP_CAP = 1500

# The networks `mindseye train` makes, in training order: the comparator learns from the
# estimator's and projector's drawings, so it comes last.
DIRECT_NETWORKS = ("direct", "direct-param")
STAGES = ("estimator", "projector", "comparator")
TRAINED_NETWORKS = (*DIRECT_NETWORKS, *STAGES)

# The classifiers that are attacked and reported: the direct baselines and the three stages
# assembled into one network.
TRIPLE_STAGED = "triple-staged"
CLASSIFIERS = (*DIRECT_NETWORKS, TRIPLE_STAGED)

# The largest training seed (`mindseye train` and the pipeline): training seeds Python's and
# numpy's global generators, which take 32-bit integers. A render's seed has no such bound.
MAX_SEED = 2**32 - 1

# The kinds of targeted pair: a positive made another positive class (the paper's Fig. 4), a
# positive made None (Fig. 6), and a None image made a positive class, which the paper never
# attacked (attacks whose spec has `none_sources`).
FALSE_POSITIVE, FALSE_NEGATIVE, NONE_TO_CLASS = "false-positive", "false-negative", "none-to-class"
PAIR_KINDS = (FALSE_POSITIVE, FALSE_NEGATIVE, NONE_TO_CLASS)

# The files that name a stage's output: a dataset's DATA/manifest.json, and each trained
# network's RUN/<network>/config.json (what made it: network, classes, preset, seed, data).
MANIFEST_FILE = "manifest.json"
NETWORK_CONFIG_FILE = "config.json"

# What a dataset's backgrounds are cropped from (dataset.backgrounds), and the default: the
# committed photographs (dataset/photos.csv), fetched at install time.
BACKGROUND_SPECS = "photos | builtin | folder:PATH | npy:PATH | hdf5:PATH"
DEFAULT_BACKGROUNDS = "photos"

# Grey from RGB (ITU-R BT.601 luma), for rendered frames and background photographs alike.
LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)

# What each preset costs, as measured (results/README.md; demo: the README's first command from
# a clean clone on 2 cores, partly shared, on 2026-12-02: render 60 s, train 254 s, attacks
# 227 s, report 33 s). Every --help that names a preset's cost reads it from here.
PRESET_COSTS = {
    "demo": "about 10 min on 2 CPU cores (1 min render, 4 min training, 4 min attacks)",
    "medium": "about 5 min render and 80 min training on 2 CPU cores, then about 12 h of "
              "attacks there (minutes on one GPU)",
    "paper": "about 45 min render and 67 h training on 2 CPU cores; about 30 min of training "
             "and a few hours of attacks on one H200",
}
