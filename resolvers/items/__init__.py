"""Items and assets: catalogue, stock, labels, the approval engine, warehouse workflows and item
checks at the gates."""
