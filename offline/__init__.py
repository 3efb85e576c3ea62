"""Run the real Pulumi program offline, under Pulumi's mock engine."""
