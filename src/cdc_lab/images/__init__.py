"""Container-side code: what runs inside the lab's images (standard library only), staged into their build contexts
by the roles. Nothing here imports the host-side package."""
