"""The course's own formats and signatures: dicts keyed "W1"/"dW1"/"dA0", caches, assignments, notebooks."""

from jaxbp.course.convert import (
    dA_convention,
    dA_keys,
    dA_note,
    from_course,
    from_course_caches,
    grads_from_course,
    grads_to_course,
    to_course,
    to_course_caches,
)

__all__ = ["dA_convention", "dA_keys", "dA_note", "from_course", "from_course_caches", "grads_from_course",
           "grads_to_course", "to_course", "to_course_caches"]
