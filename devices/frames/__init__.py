"""The device protocol's frames, declared once: `incoming` (device → server) and `outgoing`
(server → device) are each frame's static type, runtime check and published JSON Schema
(`publish` writes mobile_contracts/device/); `kit` turns a declaration into those."""
