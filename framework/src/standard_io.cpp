// StandardIO implementation (placeholder)
