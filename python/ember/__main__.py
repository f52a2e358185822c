"""``python -m ember`` prints `ember.doctor()`: versions, CPU features, devices."""

from __future__ import annotations

from . import doctor

if __name__ == "__main__":
    doctor()
