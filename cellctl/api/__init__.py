"""The HTTP API for the shop's systems (`cellctl api`): runs in, status and trace out.

Writes go to the scheduler over the bus as the board's do (`bus.scheduler_commands`);
reads go to the site historian (`site/request/…`) and the scheduler's retained queue.
"""
