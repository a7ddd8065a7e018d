"""Teaching tools for the notebooks: nothing in the server or the clients imports them."""
