"""One exception type for every problem a user can fix themselves.

The CLI turns it into a single line on stderr and a non-zero exit, so a
Snakemake log ends with the cause and the fix instead of a traceback.
"""

import re


class UserError(Exception):
    """A problem with the user's input (config, files, data), with a fix in the message."""

    def __init__(self, message: object = "", *args: object) -> None:
        # torch's DataLoader re-raises a worker's exception as UserError("Caught UserError in DataLoader
        # worker process N.\nOriginal Traceback ...\nl2l.errors.UserError: <message>"): keep the one line
        # (e.g. a bad image found by a worker), so the CLI still prints the cause and the fix alone.
        if isinstance(message, str) and message.startswith("Caught ") and " in DataLoader worker" in message:
            message = re.split(r"\nl2l(?:\.\w+)+: ", message.rstrip())[-1]  # UserError or a subclass (BadImage)
        super().__init__(message, *args)


class Preempted(Exception):
    """SIGTERM/SIGUSR1 arrived (SLURM preemption or time limit, Snakemake abort) during training.

    The last finished epoch is in ``resume.ckpt``; the CLI exits 128 + signal number,
    and rerunning the same command resumes in the same MLflow run.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
