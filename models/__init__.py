"""The networks of the paper and their training, one module per family, in the paper's order.

alexnet        reduced AlexNet trunk, fast banded LRN, `normalise_images` (0..255 -> (x-128)/64)
direct         Direct and DirectParam, the two baselines
estimator      stage 1: image + class planes -> Euler angles (hard or straight-through clip)
projector      stage 2: angles + class -> drawing and alpha
comparator     stage 3: 10x10 patch net run with stride 1, `alpha_weighted_ratio`
triple_staged  TripleStaged (ratios, scores) and the decision rule `decide`
settings       Schedule and the presets demo / medium / paper (every training default)
training       the one training loop; atomic, bit-exact resumable checkpoints
jobs           per-network batches, losses and evaluation; `train_network`
evaluation     test-split metrics and the projector drawing sheet
runs           run folders, config.json, `load_classifier`, `load_triple_staged`
cli            `mindseye train`
"""
