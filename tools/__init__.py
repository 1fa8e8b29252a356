"""What the model may call. One module a family; none imports a front-end."""
