"""The upstream CycleGAN training algorithm (Zhu et al. 2017) as a pure, resumable loop.

Per iteration: G_A: A→B and G_B: B→A are updated together on LSGAN + cycle (L1, λ=10 both ways) +
identity (L1, λ·0.5) losses with the discriminators frozen; then D_A and D_B are updated on real images
vs. fakes drawn from 50-image history pools. Adam(2e-4, β1=0.5), constant LR for ``n_epochs`` then linear
decay to zero over ``n_epochs_decay``. Mixed precision only on CUDA.

Resumability: every source of randomness has its own generator (numpy for data, ``random.Random`` for the
pools, ``torch.Generator`` for weight init) and the epoch's sample order is part of the state, so a run
resumed from any ``TrainState`` continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import io
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from services.common.methods.cyclegan import CycleGANTrainOptions

from .image_pool import ImagePool
from .inference import Translator
from .networks import GeneratorConfig, NLayerDiscriminator, ResnetGenerator
from .preprocess import PreprocessMode, preprocess

ImageSource = Callable[[], np.ndarray] | np.ndarray
LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


# The defaults live in the method's spec (what the API validates), not here.
_DEFAULTS = CycleGANTrainOptions()


@dataclass(frozen=True)
class TrainConfig:
    ngf: int = _DEFAULTS.ngf
    n_blocks: int = _DEFAULTS.n_blocks
    ndf: int = _DEFAULTS.ndf
    n_layers_d: int = _DEFAULTS.n_layers_d
    lambda_a: float = _DEFAULTS.lambda_a  # cycle A→B→A
    lambda_b: float = _DEFAULTS.lambda_b  # cycle B→A→B
    lambda_identity: float = _DEFAULTS.lambda_identity
    pool_size: int = _DEFAULTS.pool_size
    lr: float = _DEFAULTS.lr
    beta1: float = _DEFAULTS.beta1
    n_epochs: int = _DEFAULTS.n_epochs
    n_epochs_decay: int = _DEFAULTS.n_epochs_decay
    batch_size: int = _DEFAULTS.batch_size
    load_size: int = _DEFAULTS.load_size
    crop_size: int = _DEFAULTS.crop_size
    preprocess: PreprocessMode = _DEFAULTS.preprocess
    no_flip: bool = _DEFAULTS.no_flip
    seed: int = _DEFAULTS.seed
    checkpoint_every_iters: int = _DEFAULTS.checkpoint_every_iters
    sample_count: int = _DEFAULTS.sample_count
    init_gain: float = 0.02

    def __post_init__(self) -> None:
        if self.crop_size % 4 or self.crop_size < 8:
            raise ValueError(f"crop_size must be a multiple of 4 and >= 8, got {self.crop_size}")
        if self.load_size < self.crop_size:
            raise ValueError(f"load_size ({self.load_size}) must be >= crop_size ({self.crop_size})")
        if self.n_epochs < 0 or self.n_epochs_decay < 0 or self.n_epochs + self.n_epochs_decay < 1:
            raise ValueError("n_epochs and n_epochs_decay must be >= 0 with at least one epoch in total")
        if self.batch_size < 1 or self.checkpoint_every_iters < 1 or self.sample_count < 0:
            raise ValueError("batch_size and checkpoint_every_iters must be >= 1, sample_count >= 0")
        if self.preprocess not in ("resize_and_crop", "scale_width_and_crop"):
            raise ValueError(
                f"preprocess must be 'resize_and_crop' or 'scale_width_and_crop', got {self.preprocess}"
            )
        if min(self.lambda_a, self.lambda_b, self.lambda_identity, self.lr) < 0 or not 0 <= self.beta1 < 1:
            raise ValueError("lambdas and lr must be >= 0 and beta1 in [0, 1)")

    @property
    def total_epochs(self) -> int:
        return self.n_epochs + self.n_epochs_decay

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(ngf=self.ngf, n_blocks=self.n_blocks)

    def lr_factor(self, epoch: int) -> float:
        """Multiplier of ``lr`` during 0-based ``epoch`` (upstream 'linear' policy with epoch_count=1)."""
        return 1.0 - max(0, epoch + 1 - self.n_epochs) / float(self.n_epochs_decay + 1)


@dataclass
class TrainState:
    """Everything needed to continue a run; only tensors, dicts, lists, numbers and strings, so
    ``torch.load(..., weights_only=True)`` reads it back."""

    config: dict[str, Any]
    epoch: int
    iteration: int
    global_step: int
    epoch_order: list[int]
    nets: dict[str, dict[str, torch.Tensor]]
    optimizers: dict[str, dict[str, Any]]
    schedulers: dict[str, dict[str, Any]]
    rng: dict[str, Any]
    pools: dict[str, list[torch.Tensor]]
    scaler: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(asdict(self), buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainState:
        try:
            raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise ValueError(f"not a CycleGAN training checkpoint: {str(exc).splitlines()[0][:200]}") from exc
        if not isinstance(raw, dict) or set(raw) != {f for f in cls.__dataclass_fields__}:
            raise ValueError("not a CycleGAN training checkpoint: unexpected content")
        return cls(**raw)


@dataclass(frozen=True)
class ProgressInfo:
    epoch: int
    iteration: int
    iterations_per_epoch: int
    global_step: int
    total_steps: int
    losses: dict[str, float]
    lr: float


@dataclass
class TrainResult:
    state: TrainState
    stopped: bool
    last_losses: dict[str, float]
    generator_config: GeneratorConfig
    # Data-parallel runs: each rank's checksum of its final weights (all equal, or the run fails).
    replicas: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel training."""

    rank: int
    size: int


def _image(source: ImageSource) -> np.ndarray:
    return source() if callable(source) else source


def _rng_state(py: random.Random, npg: np.random.Generator, tg: torch.Generator) -> dict[str, Any]:
    version, mt, gauss = py.getstate()
    bg = npg.bit_generator.state
    return {
        "python": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        # PCG64 state holds 128-bit integers: kept as decimal strings.
        "numpy": {
            "bit_generator": bg["bit_generator"],
            "state": str(bg["state"]["state"]),
            "inc": str(bg["state"]["inc"]),
            "has_uint32": int(bg["has_uint32"]),
            "uinteger": int(bg["uinteger"]),
        },
        "torch": tg.get_state(),
    }


def _set_rng_state(
    state: dict[str, Any], py: random.Random, npg: np.random.Generator, tg: torch.Generator
) -> None:
    p = state["python"]
    py.setstate((p["version"], tuple(int(v) for v in p["mt"].tolist()), p["gauss"]))
    n = state["numpy"]
    npg.bit_generator.state = {
        "bit_generator": n["bit_generator"],
        "state": {"state": int(n["state"]), "inc": int(n["inc"])},
        "has_uint32": n["has_uint32"],
        "uinteger": n["uinteger"],
    }
    tg.set_state(state["torch"])


def _init(net: nn.Module, gain: float, gen: torch.Generator) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            with torch.no_grad():
                m.weight.normal_(0.0, gain, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
    return net


def _set_requires_grad(nets: Sequence[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def _sample_inputs(cfg: TrainConfig, domain_a: Sequence[ImageSource]) -> list[np.ndarray]:
    """The first ``sample_count`` A images at training scale (width ``load_size``, aspect kept)."""
    out = []
    for src in list(domain_a)[: cfg.sample_count]:
        img = _image(src)
        h, w = img.shape[:2]
        nw = cfg.load_size
        nh = max(1, round(h * nw / w))
        out.append(cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if nw < w else cv2.INTER_CUBIC))
    return out


def train(
    cfg: TrainConfig,
    domain_a: Sequence[ImageSource],
    domain_b: Sequence[ImageSource],
    *,
    resume: TrainState | None = None,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    on_progress: Callable[[ProgressInfo], None] | None = None,
    on_epoch_end: Callable[[int, list[np.ndarray]], None] | None = None,
    on_epoch_generator: Callable[[int, Callable[[list[np.ndarray]], list[np.ndarray]]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str | torch.device = "cpu",
    world: World | None = None,
) -> TrainResult:
    """Train G_A (A→B), G_B (B→A), D_A (judges B), D_B (judges A); see the module docstring.

    `world`: this process's rank in an initialised `torch.distributed` group (data-parallel training,
    see cyclegan/distributed.py): each rank trains on its own `batch_size` images per step, gradients
    are averaged across ranks before every optimizer step, and only rank 0 should pass callbacks.
    """
    if len(domain_a) == 0 or len(domain_b) == 0:
        raise ValueError(f"both domains need images: got {len(domain_a)} in A and {len(domain_b)} in B")
    device = torch.device(device)
    use_amp = device.type == "cuda"
    rank, size = (world.rank, world.size) if world is not None else (0, 1)
    parallel = size > 1
    if parallel:  # the same weights everywhere (seeded init), each rank its own augmentations and B draws
        py_rng, np_rng = random.Random(f"{cfg.seed}:{rank}"), np.random.default_rng([cfg.seed, rank])
    else:
        py_rng, np_rng = random.Random(cfg.seed), np.random.default_rng(cfg.seed)
    t_rng = torch.Generator().manual_seed(cfg.seed)

    def epoch_order() -> list[int]:
        # In parallel every rank must agree on the order, whatever its own data generator drew.
        rng = np.random.default_rng([cfg.seed, 1 << 20, epoch]) if parallel else np_rng
        return [int(i) for i in rng.permutation(n_data)]

    gcfg = cfg.generator_config()
    nets: dict[str, nn.Module] = {
        "G_A": ResnetGenerator(3, 3, gcfg.ngf, gcfg.n_blocks),
        "G_B": ResnetGenerator(3, 3, gcfg.ngf, gcfg.n_blocks),
        "D_A": NLayerDiscriminator(3, cfg.ndf, cfg.n_layers_d),
        "D_B": NLayerDiscriminator(3, cfg.ndf, cfg.n_layers_d),
    }
    for net in nets.values():
        _init(net, cfg.init_gain, t_rng).to(device).train()
    g_a, g_b, d_a, d_b = nets["G_A"], nets["G_B"], nets["D_A"], nets["D_B"]
    opt = {
        "G": torch.optim.Adam(
            itertools.chain(g_a.parameters(), g_b.parameters()), lr=cfg.lr, betas=(cfg.beta1, 0.999)
        ),
        "D": torch.optim.Adam(
            itertools.chain(d_a.parameters(), d_b.parameters()), lr=cfg.lr, betas=(cfg.beta1, 0.999)
        ),
    }
    sched = {k: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda=cfg.lr_factor) for k, o in opt.items()}
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    pools = {"fake_A": ImagePool(cfg.pool_size, py_rng), "fake_B": ImagePool(cfg.pool_size, py_rng)}
    n_data = max(len(domain_a), len(domain_b))
    iters_per_epoch = math.ceil(n_data / (cfg.batch_size * size))
    total_steps = iters_per_epoch * cfg.total_epochs

    if resume is not None:
        if resume.config != asdict(cfg):
            changed = sorted(k for k in asdict(cfg) if resume.config.get(k) != asdict(cfg)[k])
            raise ValueError(f"resume state was trained with a different config (differs in {changed})")
        if len(resume.epoch_order) != n_data:
            raise ValueError(
                f"resume state expects {len(resume.epoch_order)} samples per epoch, data has {n_data}: "
                "resume with the same image lists"
            )
        for name, net in nets.items():
            net.load_state_dict(resume.nets[name])
        for k in opt:
            opt[k].load_state_dict(resume.optimizers[k])
            sched[k].load_state_dict(resume.schedulers[k])
        if resume.scaler:
            scaler.load_state_dict(resume.scaler)
        for k, pool in pools.items():
            pool.load_state_dict(resume.pools[k], device)
        _set_rng_state(resume.rng, py_rng, np_rng, t_rng)
        epoch, iteration, step = resume.epoch, resume.iteration, resume.global_step
        order = list(resume.epoch_order)
        if parallel and rank > 0:  # the state holds rank 0's generators; the others draw their own
            py_rng.seed(f"{cfg.seed}:{rank}:{step}")
            np_rng = np.random.default_rng([cfg.seed, rank, step])
    else:
        epoch, iteration, step = 0, 0, 0
        order = epoch_order()
    if parallel:
        from . import collectives

        collectives.broadcast_parameters(nets.values())

    def snapshot() -> TrainState:
        return TrainState(
            config=asdict(cfg),
            epoch=epoch,
            iteration=iteration,
            global_step=step,
            epoch_order=list(order),
            nets={
                k: {n: t.detach().cpu().clone() for n, t in v.state_dict().items()} for k, v in nets.items()
            },
            optimizers={k: _to_cpu(o.state_dict()) for k, o in opt.items()},
            schedulers={k: s.state_dict() for k, s in sched.items()},
            rng=_rng_state(py_rng, np_rng, t_rng),
            pools={k: p.state_dict() for k, p in pools.items()},
            scaler=scaler.state_dict() if use_amp else {},
        )

    def batch(indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        real_a, real_b = [], []
        kw = {
            "mode": cfg.preprocess,
            "load_size": cfg.load_size,
            "crop_size": cfg.crop_size,
            "no_flip": cfg.no_flip,
        }
        for idx in indices:
            real_a.append(preprocess(_image(domain_a[idx % len(domain_a)]), np_rng, **kw))
            b_idx = int(np_rng.integers(0, len(domain_b)))  # unaligned: B drawn at random
            real_b.append(preprocess(_image(domain_b[b_idx]), np_rng, **kw))
        return torch.from_numpy(np.stack(real_a)).to(device), torch.from_numpy(np.stack(real_b)).to(device)

    mse, l1 = nn.MSELoss(), nn.L1Loss()

    def gan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
        pred = pred.float()
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    losses: dict[str, float] = {}
    while epoch < cfg.total_epochs:
        while iteration < iters_per_epoch:
            if parallel:  # rank r takes the r-th of the step's `size` batches (wrapping at the end)
                start = (iteration * size + rank) * cfg.batch_size
                real_a, real_b = batch([order[(start + j) % n_data] for j in range(cfg.batch_size)])
            else:
                real_a, real_b = batch(order[iteration * cfg.batch_size : (iteration + 1) * cfg.batch_size])
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                fake_b = g_a(real_a)
                rec_a = g_b(fake_b)
                fake_a = g_b(real_b)
                rec_b = g_a(fake_a)
            # Generators, with the discriminators frozen.
            _set_requires_grad([d_a, d_b], False)
            opt["G"].zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                if cfg.lambda_identity > 0:
                    loss_idt_a = l1(g_a(real_b).float(), real_b) * cfg.lambda_b * cfg.lambda_identity
                    loss_idt_b = l1(g_b(real_a).float(), real_a) * cfg.lambda_a * cfg.lambda_identity
                else:
                    loss_idt_a = loss_idt_b = torch.zeros((), device=device)
                loss_g_a = gan_loss(d_a(fake_b), True)
                loss_g_b = gan_loss(d_b(fake_a), True)
                loss_cycle_a = l1(rec_a.float(), real_a) * cfg.lambda_a
                loss_cycle_b = l1(rec_b.float(), real_b) * cfg.lambda_b
                loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b
            scaler.scale(loss_g).backward()
            if parallel:
                collectives.average_gradients([g_a, g_b])
            scaler.step(opt["G"])
            # Discriminators, on history-pool fakes.
            _set_requires_grad([d_a, d_b], True)
            opt["D"].zero_grad(set_to_none=True)
            d_losses = {}
            for name, d_net, real, fake in (
                ("D_A", d_a, real_b, pools["fake_B"].query(fake_b)),
                ("D_B", d_b, real_a, pools["fake_A"].query(fake_a)),
            ):
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                    loss_d = (gan_loss(d_net(real), True) + gan_loss(d_net(fake.detach()), False)) * 0.5
                scaler.scale(loss_d).backward()
                d_losses[name] = loss_d
            if parallel:
                collectives.average_gradients([d_a, d_b])
            scaler.step(opt["D"])
            scaler.update()

            values = {
                "D_A": d_losses["D_A"], "G_A": loss_g_a, "cycle_A": loss_cycle_a, "idt_A": loss_idt_a,
                "D_B": d_losses["D_B"], "G_B": loss_g_b, "cycle_B": loss_cycle_b, "idt_B": loss_idt_b,
            }  # fmt: skip
            losses = {k: float(v.detach()) for k, v in values.items()}
            iteration += 1
            step += 1
            if on_progress is not None:
                on_progress(
                    ProgressInfo(
                        epoch=epoch,
                        iteration=iteration,
                        iterations_per_epoch=iters_per_epoch,
                        global_step=step,
                        total_steps=total_steps,
                        losses=losses,
                        lr=opt["G"].param_groups[0]["lr"],
                    )
                )
            epoch_done = iteration >= iters_per_epoch
            if epoch_done:
                # End of epoch: step the LR schedule and draw next epoch's order before snapshotting, so a
                # resume from this checkpoint starts the next epoch cleanly.
                for s in sched.values():
                    s.step()
                samples = _translate_samples(cfg, g_a, domain_a, device) if on_epoch_end else []
                finished_epoch = epoch
                epoch, iteration = epoch + 1, 0
                order = epoch_order()
                if on_epoch_end is not None:
                    on_epoch_end(finished_epoch, samples)
                if on_epoch_generator is not None:  # e.g. a KID probe: G_A in eval mode, no RNG drawn
                    on_epoch_generator(
                        finished_epoch, lambda images: _translate_eval(cfg, g_a, images, device)
                    )
            stop = should_stop is not None and should_stop()
            if parallel:  # rank 0 decides for all: every rank must leave the loop at the same step
                stop = collectives.agree(stop)
            if on_checkpoint is not None and (epoch_done or step % cfg.checkpoint_every_iters == 0 or stop):
                on_checkpoint(snapshot())
            if stop:
                return _finish(TrainResult(snapshot(), True, losses, gcfg), nets, parallel)
            if epoch_done:
                break
    return _finish(TrainResult(snapshot(), False, losses, gcfg), nets, parallel)


def _finish(result: TrainResult, nets: dict[str, nn.Module], parallel: bool) -> TrainResult:
    """In parallel, check that every rank ends with the same weights (averaged gradients keep them so)."""
    if parallel:
        from . import collectives

        result.replicas = collectives.checksums(nets.values())
        if len(set(result.replicas)) != 1:
            raise RuntimeError(f"data-parallel ranks ended with different weights: {result.replicas}")
    return result


def _translate_samples(
    cfg: TrainConfig, g_a: ResnetGenerator, domain_a: Sequence[ImageSource], device: torch.device
) -> list[np.ndarray]:
    if cfg.sample_count == 0:
        return []
    g_a.eval()
    try:
        return Translator(g_a, device, batch_size=cfg.batch_size).translate(_sample_inputs(cfg, domain_a))
    finally:
        g_a.train()


def _translate_eval(
    cfg: TrainConfig, g_a: ResnetGenerator, images: list[np.ndarray], device: torch.device
) -> list[np.ndarray]:
    g_a.eval()
    try:
        return Translator(g_a, device, batch_size=cfg.batch_size).translate(images)
    finally:
        g_a.train()


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
