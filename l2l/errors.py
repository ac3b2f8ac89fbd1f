"""One exception type for every problem a user can fix themselves.

The CLI turns it into a single line on stderr and a non-zero exit, so a
Snakemake log ends with the cause and the fix instead of a traceback.
"""


class UserError(Exception):
    """A problem with the user's input (config, files, data), with a fix in the message."""
