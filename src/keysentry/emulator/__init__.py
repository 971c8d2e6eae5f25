"""A local AWS emulator (moto in server mode on 127.0.0.1), and the demo organization we seed into it.
Nothing is imported here: moto loads only when the emulator starts."""
