"""Consumer services: billing → Salesforce sync and Salesforce → billing writeback."""
