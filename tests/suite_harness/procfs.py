"""What /proc says about a process: its status fields and whether its memory holds a secret."""


def proc_status(pid):
    """/proc/<pid>/status as {field: value} ("Uid": "0\t0\t0\t0", "CapEff": "0000...")."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def proc_status_words(pid):
    """proc_status with each value split into words ("Uid": ["0", "0", "0", "0"])."""
    return {key: value.split() for key, value in proc_status(pid).items()}


# Mappings that are not the process's own memory and cannot be read through /proc/<pid>/mem.
SPECIAL_MAPPINGS = ("[vvar]", "[vsyscall]")
ANONYMOUS_MAPPINGS = ("", "[heap]", "[stack]")


def memory_contains(pid, needle, anonymous_only=False, max_region=None):
    """Whether `needle` is in a readable mapping of the process: any (anonymous_only=False) or
    only its anonymous memory (heap, stacks, anonymous maps); regions larger than `max_region`
    bytes are skipped when it is given."""
    with open(f"/proc/{pid}/maps") as f:
        regions = [line.split() for line in f]
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for fields in regions:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            path = fields[5] if len(fields) > 5 else ""
            if "r" not in fields[1] or path in SPECIAL_MAPPINGS:
                continue
            if anonymous_only and path not in ANONYMOUS_MAPPINGS:
                continue
            if max_region is not None and end - start > max_region:
                continue
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except (OSError, ValueError, OverflowError):
                continue
    return False
