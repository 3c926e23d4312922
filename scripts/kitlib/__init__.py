"""The kit's orchestration: profiles, recipe rendering with errata, runners, preflight, manifest, plan.

Standard library plus PyYAML; it runs on the host (make) and needs nothing from the image."""
