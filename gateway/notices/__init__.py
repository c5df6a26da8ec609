"""Notices to the sender: acknowledgement (ตอบรับ/แจ้งเลขรับ) after registration and
rejection (ปฏิเสธ) with reasons after quarantine, sent through a smarthost.

create.py decides (with loop_guard.py) and queues an outbox item in the pipeline's
transaction; compose.py renders it from templates; send.py is the outbox handler."""
