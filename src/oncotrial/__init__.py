"""oncotrial: run and analyse early-phase oncology trials.

Rooms (see docs/architecture.md): ``protocol`` (the study's protocol model), ``designs``
(dose-finding decisions and their vectorised simulators), ``stats`` (small numeric kernels),
``sim`` (virtual trials and operating characteristics), ``cli`` (one thin command per job).
"""

__version__ = "0.1.0"
