"""IP-KVM hardware on the employee's device: the laptop is driven by a box on the desk, not a person at it.

Laptop-farm facilitators plug IP-KVMs (PiKVM, TinyPilot, JetKVM, GL.iNet Comet) into
company laptops so operators abroad can type into them without any software the EDR
would flag. Such gadgets show up as a USB device: the Linux USB gadget ids (1d6b:0104
"Multifunction Composite Gadget"), vendor/product strings naming the product, or one
device presenting keyboard + mouse (HID, class 03) and mass storage (08) at once; and
as an HDMI-capture "display" (EDID names like "PiKVM" or a capture dongle's). A single
generic composite gadget is suggestive, a named KVM product is near-certain.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import DeviceSnapshot

from .base import Context, Detector, Signal

# (vendor_id, product_id) pairs of USB gadgets that IP-KVMs present. 1d6b is the Linux
# Foundation's id used by the kernel's gadget framework (PiKVM, TinyPilot, JetKVM all
# default to 1d6b:0104); 2e8a is Raspberry Pi (RP2040-based KVM dongles).
GADGET_IDS: Final = frozenset({("1d6b", "0104"), ("1d6b", "0101"), ("1d6b", "0106"), ("2e8a", "000a")})
NAMED_KVM: Final = re.compile(r"pikvm|pi-kvm|tinypilot|jetkvm|glkvm|gl\.inet|comet|blikvm|nanokvm|kvm over ip|ip-?kvm",
                              re.IGNORECASE)
CAPTURE_DISPLAY: Final = re.compile(r"pikvm|tinypilot|jetkvm|blikvm|nanokvm|hdmi[ -]?(to[ -]?)?(usb|csi)|"
                                    r"capture|tc358743|ms2109|cam link|usb video", re.IGNORECASE)
HID: Final = "03"
MEMO_SIZE: Final = 4096
MASS_STORAGE: Final = "08"


class State(msgspec.Struct, frozen=True, array_like=True):
    """Last fingerprint reported, so the same gadget is not re-raised on every snapshot (≤ 64 bytes)."""

    last: str = ""


class IpKvm(Detector):
    id = "ip_kvm"
    title = "IP-KVM hardware attached to the device"
    description = __doc__
    severity = "high"
    weight = 0.55
    attacks = ("T1219.003", "T1200")
    runbook = ("Ask the device owner to show the laptop on camera with its ports visible; "
               "compare the USB inventory with the asset record; escalate to insider-risk if a KVM is confirmed.")
    status = "stable"
    event_types = ("device_snapshot",)
    State = State
    max_state_bytes = 96
    params: ClassVar = {"composite_score": 0.6, "named_score": 1.0, "display_score": 0.8}

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        # Caches, not state: whether a USB name or display label matches, per string. Every
        # snapshot lists the same few devices, and a regex search costs more than the lookup.
        # One per pattern, keyed by the text alone: hashing a compiled pattern hashes its whole
        # program (~0.3 µs for these), ten times a string's cached hash.
        self._named: dict[str, bool] = {}
        self._capture: dict[str, bool] = {}

    @staticmethod
    def _match(pattern: re.Pattern, memo: dict[str, bool], text: str) -> bool:
        found = memo.get(text)
        if found is None:
            found = pattern.search(text) is not None
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[text] = found
        return found

    def observe(self, event: DeviceSnapshot, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        if event.usb_devices is None and event.displays is None:  # most snapshots: processes or a network probe
            return state, []
        findings = self._inspect(event)
        if not findings:
            return state, []
        fingerprint = "|".join(sorted(f"{kind}:{what}" for kind, what, _ in findings))[:48]
        score = max(score for _, _, score in findings)
        signal = self.signal(event, score, f"IP-KVM signature on device: {findings[0][1]}",
                             device_id=event.device_id, hostname=event.hostname,
                             matches=[f"{kind}: {what}" for kind, what, _ in findings][:5])
        # Re-raise on every snapshot that still shows it: fusion keeps the strongest, and a
        # repeated sighting refreshes the evidence's time so it does not decay away.
        new = state if state.last == fingerprint else replace(state, last=fingerprint)
        return new, [signal]

    def _inspect(self, event: DeviceSnapshot) -> list[tuple[str, str, float]]:
        found: list[tuple[str, str, float]] = []
        for usb in event.usb_devices or ():
            names = " ".join(filter(None, (usb.vendor, usb.product)))
            ids = (usb.vendor_id, usb.product_id)
            if names and self._match(NAMED_KVM, self._named, names):
                found.append(("usb", f"{names} ({ids[0]}:{ids[1]})", self.p["named_score"]))
            elif ids in GADGET_IDS:
                found.append(("usb", f"USB gadget {ids[0]}:{ids[1]} {names}".strip(), self.p["composite_score"]))
            elif usb.interface_classes and HID in usb.interface_classes and MASS_STORAGE in usb.interface_classes:
                found.append(("usb", f"keyboard+mouse+storage composite {ids[0]}:{ids[1]} {names}".strip(),
                              self.p["composite_score"]))
        for display in event.displays or ():
            label = " ".join(filter(None, (display.manufacturer, display.name)))
            if label and self._match(CAPTURE_DISPLAY, self._capture, label):
                found.append(("display", label, self.p["display_score"]))
        return found
