"""Optional integrations (Optuna, nnictl); each imports its dependency lazily."""
