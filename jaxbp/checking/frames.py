"""Which frames of a traceback are the learner's: every file but jaxbp's, Python's and installed packages'.

Both checkers (dense course functions in jaxbp.course, layers in checking.layer_check) show a learner
only these frames when their code raises.
"""

import os
import sysconfig
import traceback

_JAXBP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY = tuple({os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "purelib", "platlib")})


def is_learner_file(filename):
    """A file the learner wrote: not jaxbp's, not Python's or an installed package's (notebook cells count)."""
    if filename.startswith("<") and not filename.startswith("<ipython"):
        return False
    real = os.path.realpath(filename.split(" [cell ")[0])
    return not real.startswith(_JAXBP + os.sep) and not real.startswith(_LIBRARY)


def learner_frames(err):
    """[(FrameSummary, frame)] of the traceback's frames in the learner's files, outermost first."""
    out, tb = [], err.__traceback__
    while tb is not None:
        summary = traceback.extract_tb(tb, limit=1)[0]
        if is_learner_file(summary.filename):
            out.append((summary, tb.tb_frame))
        tb = tb.tb_next
    return out
