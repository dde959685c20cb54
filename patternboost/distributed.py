"""Training on several GPUs (or CPU processes) with torch DDP, launched by torchrun.

Rank 0 runs the loop as a single process would: it alone proposes, judges, writes the run directory and decides
when to stop. The other ranks only train: at the start of each training phase rank 0 sends them the model and
optimizer state, then each step's whole batch (or the end of the phase); every rank takes its share of the batch
rows and DDP averages the gradients, so all ranks take the same optimizer step. Each rank's loss is weighted by
its share of the batch's tokens (a family's own loss: of its rows), so the step equals one process's step on the
whole batch, to float tolerance, at any world size. A checkpoint holds the plain module and optimizer, as at
world size 1, so a run resumes at any world size.

A family's loss must depend only on its plugin and config: the other ranks build the family from those, never
from a checkpoint.
"""
import dataclasses
import gc
import os
import signal

import torch
import torch.distributed as dist


@dataclasses.dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self):
        return self.rank == 0


WORLD = World()  # this process's place, set by init()


def init(device_name="auto"):
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1): gloo on CPU, NCCL on CUDA,
    each rank on its own GPU. Without torchrun, world size 1 and nothing to join."""
    global WORLD
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 or dist.is_initialized():
        return WORLD
    WORLD = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    cuda = device_name != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(WORLD.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    if not WORLD.main:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every rank; rank 0 decides the stop
    return WORLD


def leave(trainer):
    """Drop the trainer's DDP wrapper, then leave the process group: a process that exits with either still alive
    aborts ("terminate called without an active exception")."""
    trainer.forward_model = None
    gc.collect()
    dist.destroy_process_group()


def broadcast(value=None):
    """Rank 0's value, on every rank."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(batch, rank, size):
    """This rank's rows of a batch: every tensor in it (in a tuple, list or dict, or the batch itself) split along
    its first dimension into `size` nearly equal parts; anything else passes whole."""
    if isinstance(batch, torch.Tensor):
        return torch.tensor_split(batch, size)[rank] if batch.dim() else batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(item, rank, size) for item in batch)
    if isinstance(batch, dict):
        return {key: shard(item, rank, size) for key, item in batch.items()}
    return batch


def rows(batch):
    """The number of rows of a batch: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.dim() else None
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else ()
    return next((n for n in map(rows, items) if n is not None), None)


def all_sum(value, device):
    tensor = torch.as_tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.item()


def follow(trainer):
    """The life of a rank other than 0: train when rank 0 trains, until it says the run is over."""
    while True:
        message = broadcast()
        if message is None:
            leave(trainer)
            return 0
        trainer.load_state_dict(message["trainer"])
        trainer.model.load_state_dict(message["model"])
        trainer.follow_phase()
