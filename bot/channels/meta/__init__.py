"""What WhatsApp (Cloud API) and Messenger/Instagram (Messenger Platform) share: Meta's webhook
handshake and signature (webhook.py) and the Graph API call with its error mapping (graph.py)."""
