"""Teacher trainer certification (师资培训), student training batches and teacher coverage."""
