"""timm's image backbones as zoo models ``timm.<arch>``, registered from a catalogue shipped here."""
