"""The live chat channel: a website widget talking to Tresen over a WebSocket."""
