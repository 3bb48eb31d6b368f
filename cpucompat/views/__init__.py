"""What people and programs read: JSON documents and terminal text for every command."""
