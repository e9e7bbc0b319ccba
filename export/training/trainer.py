"""Trains a transformer net (Johnson et al. 2016) for one style, or for several with conditional instance
normalisation (Dumoulin et al. 2017), resumably, and exports it to ONNX.

Everything a run depends on is in ``TrainSettings``; the checkpoint holds the settings, the net, Adam's state, the
crop sampler's and torch's random states and the loss history, so a run stopped at any point and started again
with the same command ends with the same weights as one that was never stopped. Checkpoints are only ever taken
between steps (Ctrl-C waits for the step to end, see ``interrupt``): a step's state is whole or not saved.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from impasto.export.lossgraph.weights import VGGWeights
from impasto.export.training.base_net import extend, freeze_all_but, read_base
from impasto.export.training.content_crops import IMAGE_SUFFIXES, ContentCrops, list_images
from impasto.export.training.interrupt import StepBoundaryInterrupt
from impasto.export.training.outputs import CHECKPOINT, PREVIEWS, prepare_outputs
from impasto.export.training.perceptual import CONTENT_LAYERS, STYLE_LAYERS, PerceptualLoss
from impasto.export.training.settings import ADDED_LATER, HELD_OUT, RESUMABLE_CHANGES, TrainSettings  # noqa: F401
from impasto.export.training.transformer import build
from impasto.export.training.transformer_export import export_transformer
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import sample_path, sha256_file
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_atomic, write_image
from impasto.runtime.media.resize import resize_long_side


@dataclass
class TrainResult:
    onnx_files: list[Path]
    history: list[dict]


def _to_tensor(image: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)


def _preview(net: torch.nn.Module, image: np.ndarray, path: Path, device: str) -> None:
    """Content beside its stylisation (beside each style's, for a net of several), to judge progress by eye."""
    net.eval()
    styles = net.architecture.styles
    panels = [image]
    with torch.no_grad():
        for index in range(max(1, styles)):
            weights = torch.eye(styles, device=device)[index : index + 1] if styles else None
            out = net(_to_tensor(image, device), weights).clamp(0, 255)[0].cpu().numpy().transpose(1, 2, 0)
            panels.append(out)
    net.train()
    write_image(path, np.concatenate(panels, axis=1))


class Trainer:
    """Holds one run's state; ``run`` trains to ``settings.iterations`` and exports."""

    def __init__(self, settings: TrainSettings, vgg_weights: VGGWeights) -> None:
        self.settings = settings
        self.vgg_weights = vgg_weights
        self.work = Path(settings.work_dir)
        prepare_outputs(settings)  # before any photo is read: a run that could not save its work does not start
        device = settings.device
        torch.manual_seed(settings.seed)
        paintings = settings.paintings()
        self.base = read_base(Path(settings.base)) if settings.base else None
        if self.base:  # new styles on a trained net: only their normalisation rows learn
            self.net = extend(self.base, len(paintings)).to(device).train()
            self.rows = list(range(len(self.base.styles), self.net.architecture.styles))
            parameters = freeze_all_but(self.net, self.rows)
        else:
            self.net = build(settings.architecture, styles=len(settings.styles)).to(device).train()
            self.rows = list(range(len(settings.styles)))  # empty: a one-style net
            parameters = list(self.net.parameters())
        self.styles = self.net.architecture.styles  # 0: a one-style net
        self.optimizer = torch.optim.Adam(parameters, lr=settings.learning_rate)
        styles = [_to_tensor(resize_long_side(read_image(p), settings.style_size), device) for p in paintings]
        self.loss = PerceptualLoss(vgg_weights, styles).to(device)
        photos = list_images(Path(settings.content_dir), settings.exclude)
        self.photos = photos
        self.crops = ContentCrops(photos, settings.size, settings.min_scale, settings.seed)
        held = [
            p
            for p in sorted(Path(settings.content_dir).iterdir())
            if p.stem in settings.exclude and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        # a held-out photo of the folder, else the shipped sample photo: never a training photo, so previews may be
        # looked at and shared (the training photos are third-party, for training only)
        preview_source = held[0] if held else sample_path("images/chelsea.png")
        self.preview_image = resize_long_side(read_image(preview_source), settings.size)
        self.step = 0
        self.saved_step: int | None = None  # the step of the checkpoint on disk
        self.history: list[dict] = []
        self._resume()

    def _resume(self) -> None:
        path = self.work / CHECKPOINT
        if not path.is_file():
            return
        state = torch.load(path, map_location=self.settings.device, weights_only=False)
        saved = state["settings"]
        changed = sorted(k for k, v in self.settings.identity().items() if saved.get(k, ADDED_LATER.get(k)) != v)
        if changed:
            raise ImpastoError(
                f"{path} was trained with different settings ({', '.join(changed)}); "
                "use the same settings to resume, or another --work folder to start afresh"
            )
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.crops.restore(state["sampler"])
        torch.set_rng_state(state["torch_rng"].cpu())  # map_location may have moved it to the GPU
        self.step = self.saved_step = state["step"]
        self.history = state["history"]
        print(f"resuming {self.settings.name} from step {self.step}", file=sys.stderr)

    def checkpoint(self) -> None:
        """Everything the next step depends on, written whole; only ever called between steps."""
        buffer = io.BytesIO()
        torch.save(
            {
                "settings": self.settings.identity(),
                "net": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "sampler": self.crops.state(),
                "torch_rng": torch.get_rng_state(),
                "step": self.step,
                "history": self.history,
            },
            buffer,
        )
        write_atomic(self.work / CHECKPOINT, buffer.getvalue())
        self.saved_step = self.step

    def train_step(self) -> dict:
        s = self.settings
        batch = torch.from_numpy(self.crops.batch(s.batch_size)).to(s.device)
        self.optimizer.zero_grad(set_to_none=True)
        index = self.step % max(1, len(self.rows))  # the styles in turn, so a resumed run continues the same order
        row = self.rows[index] if self.rows else 0
        content, style, tv = self.loss(self.net(batch, self.style_weights(row, len(batch))), batch, index)
        total = s.content_weight * content + s.style_weight * style + s.tv_weight * tv
        total.backward()
        self.optimizer.step()
        self.step += 1
        record = {"step": self.step, "total": total.item(), "content": content.item(), "style": style.item()}
        if self.styles:
            record["style_index"] = row
        record["tv"] = tv.item()
        self.history.append(record)
        return record

    def style_weights(self, index: int, batch: int) -> torch.Tensor | None:
        """One-hot [batch, N] weights selecting style ``index`` (None for a one-style net)."""
        if not self.styles:
            return None
        weights = torch.zeros(batch, self.styles, device=self.settings.device)
        weights[:, index] = 1.0
        return weights

    def run(self, quiet: bool = False) -> TrainResult:
        """Train to ``settings.iterations`` and export. Ctrl-C ends the step under way, checkpoints and raises
        KeyboardInterrupt saying so; a second Ctrl-C during that step abandons it (the last checkpoint stands)."""
        s = self.settings
        bar = tqdm(total=s.iterations, initial=self.step, desc=s.name, unit="step", disable=quiet, dynamic_ncols=True)
        with StepBoundaryInterrupt() as interrupt:
            try:
                while self.step < s.iterations and not interrupt.requested:
                    with interrupt.step():
                        record = self.train_step()
                    bar.update(1)
                    bar.set_postfix(content=f"{record['content']:.3g}", style=f"{record['style']:.3g}")
                    if self.step % s.checkpoint_every == 0:
                        self.checkpoint()
                    if s.preview_every and self.step % s.preview_every == 0:
                        path = self.work / PREVIEWS / f"step-{self.step:06d}.jpg"
                        _preview(self.net, self.preview_image, path, s.device)
                if self.saved_step != self.step:
                    self.checkpoint()
            except KeyboardInterrupt:
                bar.close()
                resumes = f"resumes from step {self.saved_step}" if self.saved_step is not None else "starts afresh"
                raise KeyboardInterrupt(f"interrupted in the middle of a step; the same command {resumes}") from None
        bar.close()
        if interrupt.requested:
            done = f"interrupted at step {self.step} of {s.iterations}"
            raise KeyboardInterrupt(f"{done}; checkpoint saved, the same command resumes from there")
        return TrainResult(self.export(), self.history)

    def export(self) -> list[Path]:
        s = self.settings
        base_paintings = (self.base.paintings, self.base.painting_sha256) if self.base else ([], [])
        window = self.history[-50:]
        final = {key: float(np.mean([r[key] for r in window])) for key in ("total", "content", "style", "tv")}
        metadata = {
            "name": s.name,
            "style": ", ".join([*base_paintings[0], *(Path(p).name for p in s.paintings())]),
            "style_sha256": ", ".join([*base_paintings[1], *(sha256_file(Path(p)) for p in s.paintings())]),
            "trained_on": json.dumps([p.name for p in self.photos]),
            "training": json.dumps(
                {
                    **{
                        k: v
                        for k, v in asdict(s).items()
                        if k not in ("work_dir", "out_dir", "style", "styles", "content_dir", "base")
                    },
                    "steps": self.step,
                    "content_layers": list(CONTENT_LAYERS),
                    "style_layers": list(STYLE_LAYERS),
                    "final_losses_mean_last_50": final,
                    "vgg16_weights": self.vgg_weights.source,
                }
            ),
        }
        if self.styles:  # the style names, in the order of the style_weights input
            base_styles = self.base.styles if self.base else []
            metadata["styles"] = json.dumps(base_styles + [Path(p).stem for p in s.paintings()])
        if self.base:  # which net the added styles' rows were trained on (its other weights are in this file)
            metadata["base"] = json.dumps({"name": self.base.name, "sha256": sha256_file(self.base.path)})
        path = Path(s.out_dir) / f"{s.name}.onnx"
        _preview(self.net, self.preview_image, self.work / PREVIEWS / "final.jpg", s.device)
        return export_transformer(self.net, path, metadata, s.opset)
