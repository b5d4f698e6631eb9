"""Deterministic synthetic radiographs: the pipeline's embedded default dataset.

`generate_dataset` writes a Roboflow YOLOv8 export (``data.yaml``, ``{train,valid,test}/images``
and ``/labels``) plus ``meta.csv`` (one row per image: patient, site, view, fractured) and
``synth.json`` (the config and generator version, for provenance).

How an image is made
--------------------
Every patient has one anatomical site (the class), a laterality and 2 to 4 views. The anatomy
is a set of bones, each a tube around a quadratic Bézier centreline in 3-D limb coordinates
(``y`` along the limb, ``x`` across it, ``z`` front to back; the image spans about [-1, 1]).
A view projects the limb at a beam angle (AP 0°, oblique 45°, lateral 90°, PA 180°), so in a
lateral view the radius and ulna overlap and the carpal row collapses, and then poses it in the
image (rotation, scale, shift). Each pixel's attenuation is the X-ray path length through soft
tissue and bone (chord lengths through cylinders: a bright cortical shell, a darker marrow
cavity, textured cancellous ends), which an exposure curve, heel effect, blur, quantum noise,
collimation and a burned-in side marker turn into an 8-bit image.

A fracture is a jagged lucent gap across one bone, optionally with the distal fragment shifted
and angulated and with extra comminution lines. Its plane has an orientation, so it is crisp in
views whose beam lies near that plane, fainter in others and invisible (no label) when the beam
is nearly perpendicular to it. ``difficulty`` sets how conspicuous fractures are and how noisy
images are; it does not change which patients are fractured or their anatomy.

Determinism: patient ``k`` draws only from ``SeedSequence(seed, spawn_key=(0, k, ...))``, so its
images are the same whatever ``n_patients`` is, and every random draw happens whatever the
difficulty, so a config always gives byte-identical files.

Modules: `config` (SynthConfig and constants), `anatomy` (site templates, patient sampling),
`geometry` (projection, attenuation, fracture geometry, label polygons), `render` (one view)
and `dataset` (splits, labels and `generate_dataset`). Their public names are re-exported here.
"""

from __future__ import annotations

from fraclab.data.synth.anatomy import (
    SITE_TEMPLATES,
    Bone,
    FractureSite,
    FractureSpec,
    PatientSpec,
    Point3,
    SiteTemplate,
    SoftTissue,
    patient_seed,
    sample_patient,
)
from fraclab.data.synth.config import (
    GENERATOR_VERSION,
    MAX_SIZE,
    META_COLUMNS,
    MIN_PATIENTS,
    MIN_SIZE,
    MIN_VISIBILITY,
    SAFE_MARGIN,
    SITE_NAMES,
    SPLIT_NAMES,
    VIEW_ANGLES,
    VIEW_NAMES,
    SynthConfig,
)
from fraclab.data.synth.dataset import (
    assign_splits,
    data_yaml_text,
    format_label,
    generate_dataset,
    image_name,
    provenance,
)
from fraclab.data.synth.geometry import (
    MU_CANCELLOUS,
    MU_CORTEX,
    MU_MARROW,
    MU_SOFT,
    BoneGeometry,
    FractureGeometry,
    Pose,
    clip_polygon_to_box,
)
from fraclab.data.synth.render import (
    Conspicuity,
    RenderedView,
    conspicuity,
    render_view,
    view_seed,
    visible_fractures,
)

__all__ = [
    "GENERATOR_VERSION",
    "MAX_SIZE",
    "META_COLUMNS",
    "MIN_PATIENTS",
    "MIN_SIZE",
    "MIN_VISIBILITY",
    "MU_CANCELLOUS",
    "MU_CORTEX",
    "MU_MARROW",
    "MU_SOFT",
    "SAFE_MARGIN",
    "SITE_NAMES",
    "SITE_TEMPLATES",
    "SPLIT_NAMES",
    "VIEW_ANGLES",
    "VIEW_NAMES",
    "Bone",
    "BoneGeometry",
    "Conspicuity",
    "FractureGeometry",
    "FractureSite",
    "FractureSpec",
    "PatientSpec",
    "Point3",
    "Pose",
    "RenderedView",
    "SiteTemplate",
    "SoftTissue",
    "SynthConfig",
    "assign_splits",
    "clip_polygon_to_box",
    "conspicuity",
    "data_yaml_text",
    "format_label",
    "generate_dataset",
    "image_name",
    "patient_seed",
    "provenance",
    "render_view",
    "sample_patient",
    "view_seed",
    "visible_fractures",
]
