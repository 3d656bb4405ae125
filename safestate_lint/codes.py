"""The rule codes, importable without the rules (validating `--select` must stay cheap)."""

CODES = ("SST101", "SST102", "SST103", "SST104", "SST105", "SST201", "SST202", "SST203", "SST301", "SST302", "SST303", "SST304", "SST401", "SST402", "SST403", "SST404", "SST405")
# rules outside the default selection (policies): enabled only when a selector names them
OPT_IN = ("SST105",)
