"""`report.md`, `metrics.json` and the figures, from the run's networks and attack tables."""

import contextlib
import hashlib
import json
import shutil
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from torch import nn

from mindseye.attacks.cascade import finished_networks
from mindseye.attacks.experiments import (
    record_table,
    robustness_tables,
    sources_agreeing,
    targeted_tables,
    unfinished_targeted,
)
from mindseye.attacks.ifgsm import PAPER_ATTACK, without_clip
from mindseye.attacks.registry import (
    BUDGETED,
    CASCADE,
    attack_specs,
    get_attack,
    spec_of_table,
)
from mindseye.attacks.settings import (
    AttackSettings,
    check_made_by,
    recorded_epsilons,
    records_made_on,
)
from mindseye.attacks.sources import load_test_images, load_victims
from mindseye.attacks.targeted import finished_only
from mindseye.attacks.transfer import TRANSFER_ATTACK
from mindseye.attacks.victims import TripleStagedVictim
from mindseye.core.constants import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    NONE_TO_CLASS,
    STAGES,
    TRIPLE_STAGED,
)
from mindseye.core.files import write_text_atomic
from mindseye.dataset.backgrounds import photo_names
from mindseye.dataset.fingerprint import data_fingerprint
from mindseye.dataset.manifest import read_manifest
from mindseye.dataset.shards import ShardError, load_split
from mindseye.eval.claims import check_claims
from mindseye.eval.clean import clean_predictions
from mindseye.eval.clip import clip_table
from mindseye.eval.figures import (
    beside_paper_boxplots,
    confusion_figure,
    effort_boxplots,
    ratio_histograms,
    robust_accuracy_figure,
)
from mindseye.eval.gallery import Overlay, gallery_figure, pick_by_distortion, predicted_angles
from mindseye.eval.markdown import report_text
from mindseye.eval.provenance import provenance
from mindseye.eval.stats import (
    WORST_CASE,
    cascade_summary,
    closest_by_source,
    confusion_matrices,
    effort_table,
    error_table,
    errors_by_photo,
    group,
    masking_cases,
    masking_checked,
    network_ratio_table,
    paired_table,
    paired_within_reach,
    ratio_margins,
    robust_accuracy,
    setting_name,
    transfer_table,
    within_reach,
    worst_case_records,
)
from mindseye.models.runs import weights_fingerprint

# Each kind of targeted pair's boxplots: the paper's Figs. 4 and 6, and None images made a class
# (no figure of the paper's: it never attacked None images).
KIND_FIGURES = {FALSE_POSITIVE: "fig4_false_positives", FALSE_NEGATIVE: "fig6_false_negatives",
                NONE_TO_CLASS: "none_to_class"}
KIND_TITLES = {FALSE_POSITIVE: "false positives", FALSE_NEGATIVE: "false negatives",
               NONE_TO_CLASS: "None images made a class"}


def write_report(run_dir: Path, data_dir: Path, out_dir: Path, settings: AttackSettings) -> dict:
    out_dir = Path(out_dir)
    epsilons = recorded_epsilons(run_dir)
    if epsilons is not None:  # a cascade's cells are made at the budgets the run was attacked at
        settings = replace(settings, epsilons=epsilons)
    # What the report is made of: the data (its shards checked), the weights, and records
    # made on both; a report never mixes in results of other data or other weights.
    data = data_fingerprint(data_dir)
    classes, test = load_test_images(data_dir)
    victim_list = load_victims(run_dir, classes, settings)
    weights = {victim.name: weights_fingerprint(run_dir, victim.name) for victim in victim_list}
    check_made_by(run_dir, data, weights, bool(sources_agreeing(run_dir, data, test["image"])))
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {victim.name: victim.model for victim in victim_list}
    cache = out_dir / "clean" / made_by_key(data, weights)
    clean = clean_predictions(victim_list, test, cache, settings.batch_size)
    unclipped = unclipped_table1(run_dir, classes, test, cache, settings, clean)
    # The paper's attack, its variants (the authors' way and each change alone) and every other
    # targeted attack; each is paired with the paper's attack on the same sources, by steps or
    # (a minimal-norm attack) by distortion.
    paper = PAPER_ATTACK.name
    targeted = tuple(targeted_tables(run_dir))
    budgeted_specs = attack_specs(BUDGETED)
    budgeted = tuple(spec.name for spec in budgeted_specs)
    # A targeted attack still running on a network (or on its None sources) is left out there
    # until it has finished, as a cascade is: a verdict on some of the sources is not the run's.
    none_label = len(classes) - 1
    running = unfinished_targeted(run_dir, victim_list, test["label"], len(classes), settings)
    tables = {name: finished_only(record_table(run_dir, name).read(), running.get(name, {}),
                                  none_label)
              for name in targeted}
    # Transfer shows adversarials made by a targeted attack: none made where it still runs.
    tables[TRANSFER_ATTACK.name] = [
        record for record in record_table(run_dir, TRANSFER_ATTACK.name).read()
        if (record.get("origin"), False) not in running.get(record.get("origin_attack", paper),
                                                             {})]
    # every budgeted attack's records and every cascade's cells: with the targeted attacks'
    # successes, the headline is the worst case per image over all of them
    ran = robustness_tables(run_dir, settings.epsilons)
    tables |= {name: ran.get(name, []) for name in budgeted}
    gradient = {spec.name: tables[spec.name] for spec in budgeted_specs if spec.gradient}
    gradient_free = {spec.name: tables[spec.name] for spec in budgeted_specs if not spec.gradient}
    # The targeted attacks' successes break cells too, by their L-inf (a false positive found
    # by FMN within 16 grey levels is a wrong decision within 16); not the paper's attack run
    # without the clip, which met another network than the triple-staged one.
    breaking = {name: tables[name] for name in targeted
                if tables[name] and not without_clip(name)}
    if ran and len(ran) + len(breaking) > 1:
        tables[WORST_CASE] = worst_case_records(ran, breaking)
        budgeted = (*budgeted, WORST_CASE)
    minimal = [name for name in targeted if spec_of_table(name).minimizes and tables[name]]
    # Every attack, one direction at a time: a false positive within a budget is a question
    # the cascade's first-wrong-decision stop cannot answer alone.
    reach = reach_alike({name: tables[name] for name in targeted}, ran, len(classes) - 1)
    metrics = {
        "provenance": {**provenance(run_dir, data_dir), "data_sha256": data,
                       **records_data(run_dir, data), "weights_sha256": weights},
        "classes": classes,
        "test_samples": int(len(test["label"])),
        "table1": error_table(clean, none_label=len(classes) - 1),
        "table1_unclipped": unclipped,
        "confusion": confusion_matrices(clean, len(classes)),
        "ratio_margins": ratio_margins(clean),
        "effort": {name: effort_table(tables[name]) for name in targeted if tables[name]},
        "paired": {name: paired_table(tables[paper], tables[name], pairing(name))
                   for name in targeted[1:] if tables[name] and tables[paper]},
        # A minimal-norm attack's distances, the triple-staged network's over the direct ones',
        # pair by pair: the networks share every source and target.
        "network_ratios": {name: rows for name in minimal if (rows := network_ratio_table(
            tables[name], spec_of_table(name).minimizes))},
        # An attack on only what the gradient attacks left robust: its own rate would be
        # conditional on that, so it counts in the worst case and the masking list alone.
        "robust_accuracy": {name: robust_accuracy(tables[name], len(classes) - 1)
                            for name in budgeted if tables.get(name) and (
                                name == WORST_CASE or not get_attack(name).after_gradient_attacks)},
        TRANSFER_ATTACK.name: transfer_table(tables[TRANSFER_ATTACK.name]),
        # None where no gradient-free attack ran: nothing was looked for.
        "masking": masking_cases(gradient, gradient_free)
        if any(gradient_free.values()) else None,
        "masking_checked": masking_checked(gradient, gradient_free)
        if any(gradient_free.values()) else None,
        # what the headline counted (None where there is no worst case)
        "worst_case_attacks": {"budgeted": sorted(ran), "targeted": sorted(breaking)}
        if WORST_CASE in tables else None,
        "within_reach": within_reach(reach, settings.epsilons),
        "within_reach_paired": paired_within_reach(reach, settings.epsilons),
        "clip": clip_engagement(run_dir, models, test, tables, settings.batch_size),
        "cascades": cascades(run_dir, settings, len(classes) - 1),
        "running": [{"attack": name, "network": network, "none_sources": from_none,
                     "units_done": done, "units_planned": planned}
                    for name, where in running.items()
                    for (network, from_none), (done, planned) in where.items()],
        "none_errors_by_photo": none_errors_by_photo(data_dir, clean, len(classes) - 1),
    }
    for name, summary in metrics["cascades"].items():
        metrics["robust_accuracy"][name] = summary["robust_accuracy"]
    # Every input is read: only now does the previous report go (see remove_previous_report).
    remove_previous_report(out_dir)
    figures = [confusion_figure(metrics["confusion"], classes, out_dir / "confusion.png")]
    if metrics["ratio_margins"]:
        figures.append(ratio_histograms(clean, thresholds_of(metrics["table1"]),
                                        out_dir / "clean_ratios.png"))
    for attack in targeted:
        for kind, stem in KIND_FIGURES.items():
            records = [r for r in tables[attack] if r["kind"] == kind]
            if records:
                suffix = "" if attack == paper else f"_{attack}"
                title = f"{KIND_TITLES[kind]}, {attack} (max {records[0]['max_steps']} steps)"
                figures.append(effort_boxplots(records, title, out_dir / f"{stem}{suffix}.png",
                                               by_linf=pairing(attack) == "distortion"))
    # The minimal-norm attacks' distances beside the paper's Figs. 4 and 6: how far each pair
    # is from flipping, whatever attack is used, next to how long the paper's attack took.
    for kind, stem in KIND_FIGURES.items():
        of_kind = {name: [r for r in tables[name] if r["kind"] == kind] for name in minimal}
        if any(r.get("success") for records in of_kind.values() for r in records):
            paper_of_kind = [r for r in tables[paper] if r["kind"] == kind]
            beside = "the paper's attack beside " if paper_of_kind else ""
            figures.append(beside_paper_boxplots(
                paper_of_kind, of_kind, f"{KIND_TITLES[kind]}: {beside}the minimal distances",
                out_dir / f"{stem}_minimal.png"))
    if metrics["robust_accuracy"]:
        figures.append(robust_accuracy_figure(metrics["robust_accuracy"],
                                              out_dir / "robust_accuracy.png"))
    gallery_files, renderer = galleries(run_dir, data_dir, classes, models, test, tables[paper],
                                        settings.device, out_dir)
    figures += gallery_files
    metrics["gallery_renderer"] = renderer
    metrics["stages"] = stage_evaluations(run_dir)
    drawings = Path(run_dir) / "projector" / "drawings.png"
    if drawings.is_file():
        shutil.copyfile(drawings, out_dir / "projector_drawings.png")
        figures.append(out_dir / "projector_drawings.png")
    metrics["claims"] = check_claims(metrics, thresholds_of(metrics["table1"]))
    metrics["figures"] = [path.name for path in figures]
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_text_atomic(out_dir / "report.md", report_text(metrics))
    return metrics


def none_errors_by_photo(data_dir: Path, clean: list[dict], none_label: int) -> dict | None:
    """Which background photos the None test images each setting calls a class come from
    (None for a dataset rendered before samples recorded their photo)."""
    try:
        photos = load_split(data_dir, "test", ("background",))["background"]
    except ShardError:
        return None
    names = photo_names(read_manifest(data_dir).config["render"]["backgrounds"])
    rows = errors_by_photo(clean, photos, none_label)
    for row in rows:
        row["name"] = names.get(row["photo"], "generated" if row["photo"] < 0 else "")
    return {"rows": rows, "photos_in_test": len(set(photos[[r["source"] for r in clean
                                                            if r["label"] == none_label]]))}


def cascades(run_dir: Path, settings: AttackSettings, none_label: int) -> dict:
    """Each cascade finished on some network: its summary there (eval.stats.cascade_summary),
    and `unfinished`, the networks it is still running on."""
    found = {}
    for spec in attack_specs(CASCADE):
        table = record_table(run_dir, spec.name)
        records = table.read()
        # A network the cascade has not finished is left out, as from the worst case: its
        # cells are partial until every member has run there.
        finished = finished_networks(table)
        done = [record for record in records if record["network"] in finished]
        if done:
            gradient = {member: get_attack(member).gradient for member in spec.members}
            found[spec.name] = cascade_summary(done, table.read_meta(), spec.members,
                                               gradient, settings.epsilons, none_label)
            found[spec.name]["unfinished"] = sorted({r["network"] for r in records} - finished)
    return found


UNCLIPPED = f"{TRIPLE_STAGED}-unclipped"


def records_data(run_dir: Path, data: str) -> dict[str, str]:
    """`records_data_sha256`: the data the attack records were made on, where it is other
    data than the report's (whose test images the records agree with)."""
    made_on = records_made_on(run_dir)
    return {} if made_on in (None, data) else {"records_data_sha256": made_on}


def made_by_key(data: str, weights: dict[str, str]) -> str:
    """The name of the clean decisions' folder: a digest of the data and of every network's
    weights, so that other data or a retrained network never reuses them."""
    made_by = json.dumps({"data": data, "weights": weights}, sort_keys=True)
    return hashlib.sha256(made_by.encode()).hexdigest()[:16]


def remove_previous_report(out_dir: Path) -> None:
    """Remove the report an earlier eval left (report.md and metrics.json first, then the
    figures metrics.json listed), so that a killed eval leaves no report that looks complete
    beside new figures."""
    listed: list[str] = []
    with contextlib.suppress(OSError, ValueError, AttributeError):
        listed = json.loads((out_dir / "metrics.json").read_text()).get("figures", [])
    for name in ("report.md", "metrics.json", *listed):
        path = out_dir / str(name)
        if path.parent == out_dir and path.is_file():  # never outside the report's folder
            path.unlink()


def reach_alike(targeted: dict[str, list[dict]], budgeted: dict[str, list[dict]],
                none_label: int) -> dict[tuple, dict]:
    """eval.stats.closest_by_source on the attacks that ran alike: each on every network,
    threshold (and budget) it applies to, on as many images at each, so that the networks are
    measured under the same attacks (one run on the direct networks alone, or still running at
    one threshold or budget, would make the settings it has not reached look the stronger).
    Those that apply to the triple-staged network alone (BPDA, the pose search: on a direct
    network BPDA is the paper's attack) can only make it look the weaker. A variant of the
    paper's attack without the estimator's clip attacked another network than the
    triple-staged one, and so applies to the direct networks alone: left out. An attack that
    takes only the first images of each label (HopSkipJump) narrows no sources; one that takes
    what the gradient attacks left robust (Square-5000) neither, and is only asked to have run
    on every setting, since its image counts differ by design."""
    present = {(r["network"], r["threshold"]) for records in (*targeted.values(),
                                                              *budgeted.values())
               for r in records}
    budgets = {r["epsilon"] for rows in budgeted.values() for r in rows}

    def ran_alike(table: str, records: list[dict], by_budget: bool) -> bool:
        spec = spec_of_table(table)
        sources = defaultdict(set)
        for record in records:
            sources[(record["network"], record["threshold"], record.get("epsilon"))].add(
                record["source"])
        needed = {(*setting, epsilon) for setting in present if setting[0] in spec.networks
                  for epsilon in (budgets if by_budget else (None,))}
        if without_clip(table) or not needed <= set(sources):
            return False
        return spec.after_gradient_attacks or len({len(sources[key]) for key in needed}) == 1

    budgeted = {table: rows for table, rows in budgeted.items() if ran_alike(table, rows, True)}
    narrowing_none = {table for table in budgeted if spec_of_table(table).after_gradient_attacks
                      or spec_of_table(table).per_class_setting is not None}
    return closest_by_source({table: records for table, records in targeted.items()
                              if ran_alike(table, records, False)},
                             budgeted, none_label, narrowing_none)


def pairing(table: str) -> str:
    """How a targeted table pairs with the paper's attack: by steps, or by distortion (a
    minimal-norm attack, whose steps are fixed). A variant of the paper's attack pairs by steps."""
    return spec_of_table(table).paired_by or "steps"


def unclipped_table1(run_dir: Path, classes: list[str], test: dict, cache: Path,
                     settings: AttackSettings, clean: list[dict]) -> dict:
    """Table 1's triple-staged rows without the estimator's clip, as the authors' merged network
    computes them (it has no clip layer), and how many decisions differ from the clipped
    network's (`changed`, per threshold)."""
    (victim,) = load_victims(run_dir, classes, settings, (TRIPLE_STAGED,), clip="none")
    records = clean_predictions([TripleStagedVictim(UNCLIPPED, victim.model, victim.thresholds)],
                                test, cache, settings.batch_size)
    clipped = {(r["source"], r["threshold"]): r["decision"] for r in clean
               if r["network"] == TRIPLE_STAGED}
    changed: dict[str, int] = {}
    for record in records:
        key = str(record["threshold"])
        changed[key] = changed.get(key, 0) + (
            record["decision"] != clipped[(record["source"], record["threshold"])])
    return {"rows": error_table(records, none_label=len(classes) - 1), "changed": changed}


def clip_engagement(run_dir: Path, models: dict[str, nn.Module], test: dict,
                    tables: dict[str, list[dict]], batch_size: int | None) -> list[dict]:
    """eval.clip's table for the targeted attacks on the triple-staged network, if any ran."""
    names = [spec.name for spec in attack_specs() if spec.counts_clip]
    targeted = {name: tables[name] for name in names}
    if not any(r["network"] == TRIPLE_STAGED for records in targeted.values() for r in records):
        return []
    return clip_table(models[TRIPLE_STAGED], test["image"], targeted,
                      {name: record_table(run_dir, name) for name in names}, batch_size)


def stage_evaluations(run_dir: Path) -> dict:
    """What `mindseye train` measured on the test split for each stage (RUN/<net>/eval.json)."""
    found = {}
    for network in STAGES:
        path = Path(run_dir) / network / "eval.json"
        if path.is_file():
            evaluation = json.loads(path.read_text())
            evaluation.pop("triple_staged", None)  # Table 1 reports it, from clean.jsonl
            found[network] = evaluation
    return found


def thresholds_of(table1: list[dict]) -> tuple[float, ...]:
    return tuple(sorted({r["threshold"] for r in table1 if r["threshold"] is not None}))


def galleries(run_dir: Path, data_dir: Path, classes: list[str], models: dict[str, nn.Module],
              test: dict, records: list[dict], device: str,
              out_dir: Path) -> tuple[list[Path], str | None]:
    """Fig. 5: one gallery per network and threshold from the successful ifgsm false positives.
    Returns the files and what drew the predictions (with the reason for a fallback)."""
    chosen = [r for r in records if r["kind"] == "false-positive" and r.get("success")]
    if not chosen:
        return [], None
    images = record_table(run_dir, PAPER_ATTACK.name)
    overlay = Overlay(run_dir, classes, device, data_dir=data_dir)
    paths = []
    try:
        for (network, threshold), items in sorted(group(chosen).items(),
                                                  key=lambda item: (item[0][0], item[0][1] or 0)):
            picked = pick_by_distortion(items)
            adversarials = np.stack([images.load_image(r) for r in picked])
            originals = test["image"][[r["source"] for r in picked]]
            targets = np.array([r["target"] for r in picked])
            angles = predicted_angles(network, models[network], adversarials, targets)
            drawings = None
            if angles is not None:
                drawn = [overlay.draw(int(t), angles[row : row + 1])
                         for row, t in enumerate(targets)]
                drawings = tuple(np.concatenate(parts) for parts in zip(*drawn, strict=True))
            name = setting_name(network, threshold)
            file = f"fig5_gallery_{name.replace(' @', '_')}.png"
            paths.append(gallery_figure(picked, originals.astype(np.float32), adversarials,
                                        drawings, classes, f"false positives on {name} "
                                        f"(drawn by {overlay.kind})", out_dir / file))
    finally:
        overlay.close()
    if overlay.kind == "projector":
        return paths, f"the run's projector (Blender re-render unavailable: {overlay.reason})"
    return paths, "Blender re-renders of the .blend assets"
