from streamdrift.cli import entry_point

entry_point()
